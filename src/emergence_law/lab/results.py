"""Answering the lab's four questions from its measured tables alone (no models needed).

Works on the observation table and the PassUntil counts, so the same analysis runs on a fresh
lab run and on the shipped data. Each answer is a plain dict, one field of the typed
:class:`~emergence_law.results.lab.LabSummary` (``lab_summary.json``):

1. ``fewshot_emergence``: is few-shot accuracy at chance, then rising against loss? (ground
   truth ReLU on all checkpoints, the rise above chance in standard errors)
2. ``finetune_shift``: does finetuning move the elbow to higher loss, further with more data?
   (a ReLU elbow per data level, and E(D) of the joint emergence-law fit)
3. ``prediction``: the emergence law fitted on pre-emergence checkpoints only, against the
   ground truth: error in nats, interval, success (|error| <= 0.1 nats, the paper's criterion),
   and how many times the FLOPs in advance, also as checkpoints are held out one by one
   (the backtest is the project's ``analysis.backtest.run_backtest``, with the two-step
   baseline beside the law when the table has a continuous few-shot metric).
4. ``passuntil``: the task scaling law fitted on the smaller models, predicting the largest.

Also ``continuous_emergence`` (paper Fig. 13, :mod:`emergence_law.lab.continuous`): the same
elbow in the log-probability of the correct choice (``logprob_norm``), when the table has it.
Every accuracy answer selects
``metric == "acc"`` explicitly, so rows of other metrics never enter an accuracy fit.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.analysis.ground_truth import GroundTruth, ground_truth_emergence
from emergence_law.errors import EmergenceLawError
from emergence_law.lab.task import lab_task

SUCCESS_NATS = 0.1


def fewshot_rows(obs: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """The lab task's few-shot rows of one metric (never rows of another metric)."""
    return obs[(obs["setting"] == "fewshot") & (obs["metric"] == metric)
               & (obs["task"] == lab_task(obs))]


def finetune_rows(obs: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """The lab task's finetuned rows of one metric, every method and data amount."""
    return obs[(obs["setting"] == "finetune") & (obs["metric"] == metric)
               & (obs["task"] == lab_task(obs))]


def ground_truth(obs: pd.DataFrame) -> GroundTruth:
    """The few-shot emergence point from every checkpoint (raises if nothing emerged)."""
    return ground_truth_emergence(fewshot_rows(obs), lab_task(obs), metric="acc")


def fewshot_emergence(obs: pd.DataFrame, gt: GroundTruth | None) -> dict[str, Any]:
    """Question 1: chance, then a rise against loss?"""
    fs = fewshot_rows(obs)
    chance = float(fs["chance"].iloc[0])
    n = fs["n_eval"].astype(float).to_numpy()
    se = np.sqrt(chance * (1 - chance) / n)
    z = (fs["value"].to_numpy(dtype=float) - chance) / se
    out: dict[str, Any] = {
        "n_checkpoints": int(len(fs)), "chance": chance,
        "max_accuracy": float(fs["value"].max()),
        "loss_range": [float(fs["loss"].min()), float(fs["loss"].max())],
        "n_above_chance_3se": int((z > 3).sum()),
    }
    if gt is None:
        out.update(emerged=False, answer="no: few-shot accuracy never rises clearly above chance")
        return out
    pre = fs[fs["loss"] > gt.elbow]
    post = fs[fs["loss"] <= gt.elbow]
    per_model: dict[str, Any] = {}
    for model, rows in fs.groupby("model"):
        try:
            g = ground_truth_emergence(rows, lab_task(rows), metric="acc")
            per_model[str(model)] = {"elbow": g.elbow, "interval": list(g.interval)}
        except EmergenceLawError as exc:
            per_model[str(model)] = {"elbow": None, "note": str(exc).split(": ", 1)[-1]}
    out["elbow_by_model"] = per_model
    zpre = (pre["value"] - chance) / np.sqrt(chance * (1 - chance) / pre["n_eval"].astype(float))
    out.update(
        emerged=True, ground_truth=gt.to_dict(),
        n_pre_emergence=int(len(pre)), n_post_emergence=int(len(post)),
        pre_emergence_mean_accuracy=float(pre["value"].mean()) if len(pre) else None,
        pre_emergence_max_z=float(zpre.max()) if len(pre) else None,
        slope_per_nat=float(gt.params["A"]),
        answer=(f"yes: accuracy stays near chance ({chance:.2f}) for the {len(pre)} checkpoints "
                f"with loss above {gt.elbow:.3f} nats, then rises by {gt.params['A']:.2f} per "
                f"nat of loss to {fs['value'].max():.2f}"),
    )
    return out


def _level_elbow(rows: pd.DataFrame) -> dict[str, Any] | None:
    """ReLU elbow of one data level's finetuned rows (the ground-truth fitter on those rows)."""
    as_fs = rows.assign(setting="fewshot", shots=0, n_train=pd.NA)
    try:
        g = ground_truth_emergence(as_fs, lab_task(as_fs), metric="acc")
    except EmergenceLawError as exc:
        return {"elbow": None, "note": str(exc).split(": ", 1)[-1]}
    return {"elbow": g.elbow, "interval": list(g.interval)}


def finetune_shift(obs: pd.DataFrame, gt: GroundTruth | None, fits: dict[str, Any]
                   ) -> dict[str, Any]:
    """Question 2: per data level and method, the elbow (and the joint law's E(D))."""
    ft = finetune_rows(obs)
    levels: list[dict[str, Any]] = []
    for (method, d), rows in ft.groupby(["method", "n_train"]):
        rec = {"method": str(method), "n_train": int(d),
               "mean_accuracy": float(rows["value"].mean()), "n_rows": int(len(rows))}
        rec.update(_level_elbow(rows) or {})
        fit = fits.get(str(method))
        if fit is not None:
            rec["law_elbow"] = float(fit.emergence_point(float(d)))
        levels.append(rec)
    out: dict[str, Any] = {"levels": levels}
    if gt is not None:
        out["fewshot_elbow"] = gt.elbow
    answers = []
    for method in sorted({lv["method"] for lv in levels}):
        mine = sorted((lv for lv in levels if lv["method"] == method), key=lambda r: r["n_train"])
        elbows = [lv.get("law_elbow") for lv in mine]
        if gt is not None and all(e is not None for e in elbows):
            d_list = ", ".join(str(lv["n_train"]) for lv in mine)
            lo, hi = ft.loc[ft["method"] == method, "loss"].agg(["min", "max"])
            if any(not lo <= e <= hi for e in elbows):
                # a law whose elbows lie where no finetuned checkpoint is measured them nowhere:
                # say so, and give each level's own elbow instead (none where it never rises)
                own = ", ".join(f"{lv['elbow']:.3f}" if lv.get("elbow") is not None else "none"
                                for lv in mine)
                out.setdefault("law_beyond_data", []).append(method)
                answers.append(
                    f"{method}: the law's E(D) = {min(elbows):.3f}-{max(elbows):.3f} nats lie "
                    f"outside the finetuned checkpoints' losses ({lo:.3f}-{hi:.3f}): not "
                    f"measured; each level's own elbow: {own} for D = {d_list} vs few-shot "
                    f"{gt.elbow:.3f}")
                continue
            higher = all(e > gt.elbow for e in elbows)
            mono = all(b >= a - 1e-9 for a, b in zip(elbows, elbows[1:], strict=False))
            answers.append(
                f"{method}: E(D) = " + ", ".join(f"{e:.3f}" for e in elbows)
                + f" nats for D = {d_list} vs few-shot "
                f"{gt.elbow:.3f}: " + ("higher" if higher else "NOT all higher")
                + (", increasing with D" if mono else ", NOT increasing with D"))
    out["answer"] = "; ".join(answers) if answers else "no fitted emergence law to read E(D) from"
    return out


def _fit(obs: pd.DataFrame, method: str, *, posterior: str, n_samples: int, seed: int):
    from emergence_law.fitting import EmergenceLaw

    law = EmergenceLaw(form="log_power", posterior=posterior, n_samples=n_samples, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return law.fit(obs, lab_task(obs), metric="acc", method=method)


def preemergence_rows(obs: pd.DataFrame, max_loss_used: float) -> pd.DataFrame:
    """Rows of checkpoints with loss >= ``max_loss_used`` only: what a forecaster would have."""
    rows = obs[(obs["task"] == lab_task(obs)) & (obs["metric"] == "acc")]
    return rows[rows["loss"] >= max_loss_used]


def emergence_flops(obs: pd.DataFrame, elbow: float) -> dict[str, float | None]:
    """Per model, the FLOPs at which its loss curve crosses ``elbow`` (log-linear interpolation
    between its checkpoints), None if it never does. The family's emergence FLOPs is the least
    of these: the cheapest model that has the capability."""
    fs = fewshot_rows(obs)
    out: dict[str, float | None] = {}
    for model, rows in fs.groupby("model"):
        r = rows.sort_values("flops")
        f, lo = r["flops"].to_numpy(float), r["loss"].to_numpy(float)
        hit = np.flatnonzero(lo <= elbow)
        if not len(hit):
            out[str(model)] = None
            continue
        j = int(hit[0])
        if j == 0:
            out[str(model)] = float(f[0])
            continue
        t = (lo[j - 1] - elbow) / max(lo[j - 1] - lo[j], 1e-12)
        out[str(model)] = float(np.exp(np.log(f[j - 1]) + t * (np.log(f[j]) - np.log(f[j - 1]))))
    return out


def fit_bounds_low(rows: pd.DataFrame) -> float:
    """The lowest E(D0) the core's fitter allows on ``rows`` (its prior box,
    :func:`emergence_law.fitting.model.prior_box`). An MLE there means the data cannot place
    the elbow."""
    from emergence_law.fitting.model import prior_box

    return float(prior_box(float(rows["loss"].min()), float(rows["loss"].max()))[0, 0])


def _most_capable_flops(rows: pd.DataFrame) -> float:
    """FLOPs of the most capable (lowest-loss) checkpoint among ``rows``.

    In a family of several sizes the most capable checkpoint is not the one with the most
    FLOPs (a larger model's early checkpoint can cost more yet be less capable); the paper's
    "FLOPs of the most capable model used" is read here as the lowest-loss checkpoint's.
    """
    return float(rows.loc[rows["loss"].idxmin(), "flops"])


def prediction(obs: pd.DataFrame, gt: GroundTruth, *, methods: tuple[str, ...],
               n_samples: int = 2000, seed: int = 0,
               backtest_law: dict[str, Any] | None = None, workers: int | None = None,
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Question 3: predict from pre-emergence checkpoints; score against the ground truth.

    ``backtest_law``: estimator settings for the backtest's refits (default MCMC, 1,000 draws,
    ``seed``); ``workers``: its processes. Returns the summary dict and the fitted
    :class:`EmergenceFit` per method.
    """
    backtest_law = {"seed": seed, **(backtest_law or {})}
    ft = finetune_rows(obs)
    fits: dict[str, Any] = {}
    per_method: dict[str, Any] = {}
    cross = emergence_flops(obs, gt.elbow)
    reached = [v for v in cross.values() if v is not None]
    family_flops = min(reached) if reached else None
    for method in methods:
        rows_m = ft[ft["method"] == method]
        if rows_m.empty:
            continue
        cut = float(rows_m["loss"].min())
        data = preemergence_rows(obs, max(cut, gt.elbow + 1e-9))
        data = data[(data["setting"] == "fewshot") | (data["method"] == method)]
        try:
            fit = _fit(data, method, posterior="mcmc", n_samples=n_samples, seed=seed)
        except EmergenceLawError as exc:
            per_method[method] = {"error": str(exc)}
            continue
        fits[method] = fit
        used_flops = _most_capable_flops(data)
        e_lo = float(fit_bounds_low(data))
        err = fit.emergence_point_mle - gt.elbow
        ivl = fit.interval(0.9)
        per_method[method] = {
            "mle": fit.emergence_point_mle, "ground_truth": gt.elbow, "error_nats": float(err),
            "abs_error_nats": float(abs(err)), "success": bool(abs(err) <= SUCCESS_NATS),
            "interval_90": list(ivl) if ivl else None,
            "percentiles": fit.percentiles,
            "truth_in_interval": bool(ivl and ivl[0] <= gt.elbow <= ivl[1]),
            "most_capable_loss_used": cut, "most_capable_flops_used": used_flops,
            "max_flops_used": float(data["flops"].max()),
            "flops_in_advance": (family_flops / used_flops) if family_flops else None,
            "E_of_D": {str(int(d)): float(fit.emergence_point(float(d))) for d in fit.levels},
            "d0": fit.d0, "params": {k: float(v) for k, v in fit.params.items()},
            "diagnostics": {k: v for k, v in fit.diagnostics.items()
                            if isinstance(v, (int, float, str, bool))},
            "warnings": [str(w) for w in fit.warnings],
            "mle_at_lower_bound": bool(fit.emergence_point_mle <= e_lo + 1e-3),
            **_data_edge(fit.emergence_point_mle, data),
            "lower_bound": e_lo,
        }
        bt, bt_info = backtest(obs, gt, method, family_flops, law=backtest_law,
                               workers=workers)
        per_method[method].update(backtest=bt, backtest_info=bt_info)
        # the two-step baseline (no finetuning data) on the same data as the law's prediction
        per_method[method]["two_step_baseline"] = (
            bt[0].get("baseline") if bt and bt[0]["held_out"] == 0 else None)
    out = {"ground_truth": gt.elbow, "ground_truth_interval": list(gt.interval),
           "emergence_flops_by_model": cross, "family_emergence_flops": family_flops,
           "success_threshold_nats": SUCCESS_NATS, "methods": per_method}
    return out, fits


def _method_table(obs: pd.DataFrame, method: str) -> pd.DataFrame:
    """The task's rows of every metric, few-shot plus ``method``'s finetuned rows only.

    ``run_backtest`` hands its two-step baseline every row of the task, and the baseline's
    ``select_task`` refuses a table with finetuned rows of several methods; the baseline uses
    no finetuned rows anyway, so dropping the other method's changes nothing else.
    """
    rows = obs[obs["task"] == lab_task(obs)]
    return rows[(rows["setting"] == "fewshot") | (rows["method"] == method)]


def backtest(obs: pd.DataFrame, gt: GroundTruth, method: str, family_flops: float | None, *,
             law: dict[str, Any] | None = None, workers: int | None = None
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Fig. 7 through the project's own :func:`~emergence_law.analysis.backtest.run_backtest`.

    Checkpoints (few-shot ones too) are held out in loss order, most capable first, from the
    prediction's data (loss >= the least loss of a finetuned checkpoint, and >= the elbow)
    until two finetuned checkpoints are left. The two-step baseline runs on the same cut-offs
    when the table has a continuous few-shot metric (``logprob_norm``); without one, only
    the emergence law runs and ``info["baseline"]`` says why. Every record is scored against
    the lab's ground truth ``gt`` (signed error); FLOPs in advance = ``family_flops`` / FLOPs
    of the most capable (lowest-loss) checkpoint used, as in :func:`prediction`.

    Returns the records (one per cut-off) and what the run was (``info``).
    """
    from emergence_law.analysis import backtest as bt_mod
    from emergence_law.errors import OptionError

    table = _method_table(obs, method)
    acc = table[table["metric"] == "acc"]
    ft_losses = sorted(acc.loc[acc["setting"] == "finetune", "loss"].astype(float).unique())
    info: dict[str, Any] = {"implementation": "emergence_law.analysis.backtest.run_backtest",
                            "order_by": "loss", "baseline": None}
    if len(ft_losses) < 2:
        info["note"] = f"{len(ft_losses)} finetuned checkpoint(s): nothing to hold out"
        return [], info
    cutoff = max(float(ft_losses[0]), gt.elbow + 1e-9)
    pre = acc.loc[acc["loss"] >= cutoff, ["model", "checkpoint", "loss"]].drop_duplicates()
    # hold out until the second least capable finetuned checkpoint is the most capable one used
    n_hold = int((pre["loss"] < ft_losses[-2]).sum())
    settings = {**bt_mod.DEFAULT_LAW, "posterior": "mcmc", "n_samples": 1000, **(law or {})}
    kwargs: dict[str, Any] = dict(law=settings, cutoff=cutoff, order_by="loss",
                                  min_checkpoints=max(2, len(pre) - n_hold), metric="acc",
                                  ft_method=method, workers=workers, progress=False)
    try:
        try:
            res = bt_mod.run_backtest(table, lab_task(table), method="both", **kwargs)
            info["baseline"] = "two_step"
        except OptionError as exc:  # no continuous few-shot metric: the baseline cannot run
            info["baseline_note"] = f"two-step baseline not run: {exc}"
            res = bt_mod.run_backtest(table, lab_task(table), method="emergence_law", **kwargs)
    except EmergenceLawError as exc:
        info["note"] = str(exc)
        return [], info
    info.update(cutoff=cutoff, law=dict(settings),
                run_backtest_ground_truth=res.ground_truth.elbow,
                first_post_checkpoint=res.info.get("first_post_checkpoint"))
    t = res.table.astype(object).where(res.table.notna(), None)
    base = {int(r["n_held_out"]): r for r in t.to_dict("records") if r["method"] == "two_step"}
    out = []
    for r in t.to_dict("records"):
        if r["method"] != "emergence_law":
            continue
        used_loss = float(r["cutoff_loss"])
        used_flops = _most_capable_flops(acc[acc["loss"] >= used_loss])
        rec: dict[str, Any] = {
            "held_out": int(r["n_held_out"]),
            "finetuned_held_out": sum(v < used_loss for v in ft_losses),
            "n_checkpoints": int(r["n_checkpoints"]),
            "most_capable_loss_used": used_loss, "most_capable_flops_used": used_flops,
            "max_flops_used": r["max_flops_used"],
            **_scored(r, gt),
            "flops_in_advance": (family_flops / used_flops) if family_flops else None,
            "flops_ratio": r["flops_ratio"], "loss_gap": r["loss_gap"],
        }
        if rec["mle"] is not None:
            used = acc[acc["loss"] >= used_loss]
            rec["mle_at_lower_bound"] = bool(rec["mle"] <= fit_bounds_low(used) + 1e-3)
            rec.update(_data_edge(rec["mle"], used))
        b = base.get(rec["held_out"])
        if b is not None:
            rec["baseline"] = _scored(b, gt)
        out.append(rec)
    return out, info


def _data_edge(mle: float, rows: pd.DataFrame) -> dict[str, Any]:
    """How far beyond the few-shot data the prediction goes: ``beyond_data_nats`` = least
    few-shot loss used - E(D0) (> 0: emergence predicted at a lower loss than any checkpoint
    used), and whether the MLE sits at that edge (the core's ``EDGE_NATS``). A prediction at
    the edge says only "no earlier than the data", so its error measures how close the
    checkpoints came to the elbow, not an extrapolation."""
    from emergence_law.fitting import at_data_edge

    fs = rows[rows["setting"] == "fewshot"]
    if fs.empty:
        return {}
    fs_min = float(fs["loss"].min())
    return {"beyond_data_nats": fs_min - float(mle),
            "mle_at_data_edge": bool(at_data_edge(mle, fs_min))}


def _scored(r: dict[str, Any], gt: GroundTruth) -> dict[str, Any]:
    """One run_backtest row as the lab reports it: signed error against the lab's ground
    truth, success (the paper's 0.1 nats), the 5-95% interval when the fit gave draws."""
    if r["status"] != "ok" or r["prediction"] is None:
        return {"mle": None, "error_nats": None, "success": False, "interval_90": None,
                "status": str(r["status"]), "note": r["reason"] or None}
    err = float(r["prediction"]) - gt.elbow
    ivl = [float(r["p5"]), float(r["p95"])] if r["p5"] is not None else None
    return {"mle": float(r["prediction"]), "error_nats": err,
            "success": bool(abs(err) <= SUCCESS_NATS), "interval_90": ivl,
            "truth_in_interval": bool(ivl[0] <= gt.elbow <= ivl[1]) if ivl else None,
            "status": "ok", "note": r["reason"] or None}


def passuntil_prediction(counts: pd.DataFrame, *, seed: int = 0) -> tuple[dict[str, Any], Any]:
    """Question 4: fit the task scaling law on all but the largest model, predict the largest."""
    from emergence_law.passuntil.estimate import task_estimate
    from emergence_law.passuntil.law import TaskScalingLaw

    sizes = sorted(counts["params"].unique())
    if len(sizes) < 3:
        return {"answer": f"needs at least 3 model sizes, have {len(sizes)}"}, None
    largest = sizes[-1]
    train = counts[counts["params"] < largest]
    target = counts[counts["params"] == largest]
    measured = {}
    for (model, params), rows in counts.groupby(["model", "params"]):
        est = task_estimate(rows["trials"].to_numpy(), rows["passes"].to_numpy(),
                            rows["censored"].to_numpy(bool))
        measured[str(model)] = {"params": float(params), **est.to_dict(),
                                "pass_rate": est.mean}
    try:
        law = TaskScalingLaw(level="pooled", seed=seed).fit(train, source="lab passuntil counts")
        pred = law.predict(float(largest))
    except EmergenceLawError as exc:
        return {"answer": f"the task scaling law could not be fitted: {exc}",
                "measured": measured}, None
    truth = measured[str(target["model"].iloc[0])]
    p_true = truth.get("pass_rate")
    lo, hi = pred.interval
    out = {
        "fitted_on": [str(m) for m in train["model"].unique()],
        "target_model": str(target["model"].iloc[0]), "target_params": float(largest),
        "predicted_pass_rate": pred.predicted_pass_rate, "interval": [lo, hi],
        "confidence": pred.confidence, "measured_pass_rate": p_true,
        "measured": measured, "law": {"c": law.c_, "alpha": law.alpha_},
        **_passuntil_checks(counts, measured, target, pred.predicted_pass_rate, (lo, hi)),
    }
    if p_true and p_true > 0 and pred.predicted_pass_rate > 0:
        out["ratio_predicted_to_measured"] = pred.predicted_pass_rate / p_true
        out["log10_error"] = math.log10(pred.predicted_pass_rate / p_true)
        out["measured_in_interval"] = bool(lo <= p_true <= hi)
        out["answer"] = (f"predicted PU {pred.predicted_pass_rate:.3g} "
                         f"({pred.confidence:.0%} interval {lo:.3g}-{hi:.3g}) for "
                         f"{out['target_model']} vs measured {p_true:.3g} "
                         f"(x{out['ratio_predicted_to_measured']:.2f})"
                         + (f", exact {out['exact_pass_rate']:.3g} "
                            f"(x{out['ratio_predicted_to_exact']:.2f})"
                            if "ratio_predicted_to_exact" in out else "")
                         + f"; {out['censored_fraction']:.0%} of instances censored")
    else:
        out["answer"] = "the largest model's measured pass rate is 0 (all censored)"
    return out, law


def _passuntil_checks(counts: pd.DataFrame, measured: dict[str, Any], target: pd.DataFrame,
                      predicted: float, interval: tuple[float, float]) -> dict[str, Any]:
    """What the counts say beyond the law: the censored fraction, the curvature test's verdict
    on the measured rates, and (where the counts carry each instance's exact rate,
    ``expected_rate``) PassUntil checked against the exact rates and the law's prediction
    against the largest model's exact mean rate."""
    from emergence_law.lab.passuntil_check import exact_check
    from emergence_law.passuntil.curvature import curvature_test

    cens = counts["censored"].fillna(False).astype(bool)
    out: dict[str, Any] = {"censored_fraction": float(cens.mean())}
    if "budget" in counts:
        out["budget_range"] = [int(counts["budget"].min()), int(counts["budget"].max())]
    pts = sorted(measured.values(), key=lambda m: m["params"])
    se = [(m["upper"] - m["lower"]) / (2 * 1.959964) for m in pts]  # from the 95% intervals
    try:
        out["curvature"] = curvature_test([m["params"] for m in pts],
                                          [m["pass_rate"] for m in pts], se).to_dict()
    except EmergenceLawError as exc:
        out["curvature"] = {"note": str(exc)}
    check = exact_check(counts)
    if check is not None:
        out["exact_check"] = check
        exact = float(target["expected_rate"].mean())
        out["exact_pass_rate"] = exact
        if exact > 0 and predicted > 0:
            out["ratio_predicted_to_exact"] = predicted / exact
            out["exact_in_interval"] = bool(interval[0] <= exact <= interval[1])
    return out

