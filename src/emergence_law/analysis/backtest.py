"""How far in advance can emergence be predicted (the paper's Fig. 7)?

Hold out the most capable pre-emergence checkpoints one at a time (ordered by FLOPs when every
checkpoint has them, else by loss), refit on what is left, and score each prediction against the
ground truth from all few-shot rows. For each cut-off the table gives the loss and FLOPs of the
most capable checkpoint used, the prediction with its 5-95% interval, success (|MLE - GT| <=
threshold), and ``flops_ratio``: FLOPs of the first post-emergence checkpoint over the FLOPs
used, i.e. how many times more compute the first model that shows the capability needed. When
FLOPs are unknown, ``loss_gap`` (loss used minus loss of the first post-emergence checkpoint)
says the same in nats.

``method`` picks the predictor: ``emergence_law`` (finetuning data), ``two_step`` (the
no-finetuning baseline of baseline.py), or ``both`` on the same cut-offs.

``max_cutoffs`` bounds the work on a long ladder (844 cut-offs on the OLMo ladder's HellaSwag)
without changing the question: N cut-offs spread evenly over the lead the summary reports (log
FLOPs ratio, else loss gap), always with the cut-off that uses every checkpoint and the furthest
one; each kept row is the row the full backtest would have (a fit sees only its own cut-off).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.analysis.ablations import (
    DEFAULT_LAW,
    DEFAULT_THRESHOLD,
    record_fit,
    selection_header,
    task_rows,
)
from emergence_law.analysis.checkpoints import checkpoint_keys, checkpoint_table
from emergence_law.analysis.jobs import METHODS, FitJob, run_fit_job
from emergence_law.analysis.runner import run_jobs
from emergence_law.errors import DataError, NotIdentifiableError, SettingError
from emergence_law.observations import load_observations, write_csv_atomic
from emergence_law.results.analysis import MIN_FLOPS_LEAD, BacktestTable

CSV_COLUMNS = ["method", "n_held_out", "n_checkpoints", "cutoff_loss", "max_flops_used",
               "prediction", "p5", "p50", "p95", "error", "error_p5", "error_p95", "success",
               "flops_ratio", "loss_gap", "first_post_loss", "first_post_flops", "gt", "status",
               "reason", "seconds", "metric", "ft_method"]
#: the :func:`~emergence_law.analysis.jobs.score` keys a backtest row keeps, and their columns
SCORE_COLUMNS = {"mle": "prediction", **{k: k for k in ("p5", "p50", "p95", "error", "error_p5",
                                                         "error_p95", "success")}}


@dataclass
class BacktestResult:
    """One row per (method, cut-off); see CSV_COLUMNS."""

    task: str
    table: pd.DataFrame
    ground_truth: Any
    threshold: float
    order_by: str
    info: dict[str, Any] = field(default_factory=dict)

    def to_csv(self, path: str | Path) -> Path:
        return write_csv_atomic(self.table, path, float_format="%.6g")

    def to_result(self) -> Any:
        """The typed ``backtest.csv`` (:class:`~emergence_law.results.analysis.BacktestTable`)."""
        return BacktestTable(self.table)

    def best(self, method: str) -> pd.Series | None:
        """The successful cut-off furthest in advance (largest FLOPs ratio, else loss gap).

        A largest FLOPs ratio below ``MIN_FLOPS_LEAD`` is no lead (the table's FLOPs do not grow
        with capability): the largest loss gap is taken instead (:meth:`summary_lines` says
        why)."""
        t = self.table[(self.table["method"] == method) & (self.table["status"] == "ok")]
        t = t[t["success"].astype(bool)]
        if t.empty:
            return None
        r = t["flops_ratio"]
        if r.notna().any() and r.max() >= MIN_FLOPS_LEAD:
            return t.loc[r.idxmax()]
        return t.loc[t["loss_gap"].idxmax()]

    def reliable(self, method: str) -> pd.Series | None:
        """The furthest cut-off up to which *every* cut-off succeeded (a lucky success after a
        run of failures does not count here, unlike :meth:`best`)."""
        t = self.table[self.table["method"] == method].sort_values("n_held_out")
        last = None
        for _, r in t.iterrows():
            if r["status"] != "ok" or not bool(r["success"]):
                break
            last = r
        return last

    def summary_lines(self) -> list[str]:
        out = []
        for method in dict.fromkeys(self.table["method"]):
            b = self.best(method)
            n_ok = int(((self.table["method"] == method) & (self.table["status"] == "ok")).sum())
            if b is None:
                n_all = int((self.table["method"] == method).sum())
                out.append(f"{method}: no cut-off predicted within {self.threshold:g} nats of the "
                           f"ground truth {self.ground_truth.elbow:.3f} ({n_ok} of {n_all} "
                           "fitted)")
            elif np.isfinite(b["flops_ratio"]) and b["flops_ratio"] >= MIN_FLOPS_LEAD:
                r = self.reliable(method)
                rel = (f"every cut-off succeeded up to {r['flops_ratio']:.2f}x" if r is not None
                       else "the cut-off with all checkpoints already failed")
                out.append(f"{method}: largest FLOPs ratio with a successful prediction: "
                           f"{b['flops_ratio']:.2f}x (most capable model used: "
                           f"{b['max_flops_used']:.3g} FLOPs, loss {b['cutoff_loss']:.3f}; "
                           f"error {b['error']:.3f} nats); {rel}")
            else:
                why = ("FLOPs unknown" if not np.isfinite(b["flops_ratio"]) else
                       "FLOPs do not grow with capability across these checkpoints (every "
                       "successful cut-off's FLOPs ratio is below 1: several model sizes), so "
                       "no FLOPs lead")
                out.append(f"{method}: {why}; largest loss gap with a successful "
                           f"prediction: {b['loss_gap']:.3f} nats before the first "
                           f"post-emergence checkpoint (error {b['error']:.3f} nats)")
        return out

    @property
    def n_fitted(self) -> int:
        """Cut-offs whose fit gave a usable prediction (status ``ok``)."""
        return int((self.table["status"] == "ok").sum())

    def summary(self) -> str:
        sel = selection_header(self.info.get("metric"), self.info.get("ft_method"))
        return (f"task {self.task}, {sel}: ground truth {self.ground_truth.elbow:.4f} nats; "
                f"checkpoints held out by {self.order_by}{self._cutoffs_said()}\n"
                + "\n".join(self.summary_lines()))

    def _cutoffs_said(self) -> str:
        """How many cut-offs were fitted of how many, when ``max_cutoffs`` bounded them (said
        only then: the default summary is the one it always was)."""
        if self.info.get("max_cutoffs") is None:
            return ""
        return (f"; {self.info['n_cutoffs']} of {self.info['n_cutoffs_all']} cut-offs fitted "
                f"(max_cutoffs {self.info['max_cutoffs']}, spread evenly over the lead)")

    def plot(self, path: str | Path | None = None):
        from emergence_law.analysis.plots import plot_backtest

        return plot_backtest(self, path)

    def to_dict(self) -> dict[str, Any]:
        t = self.table.astype(object).where(self.table.notna(), None)
        return {"task": self.task, "ground_truth": self.ground_truth.to_dict(),
                "threshold": self.threshold, "order_by": self.order_by,
                "rows": t.to_dict(orient="records"), **self.info}


def check_max_cutoffs(n: int) -> None:
    """Refuse a bound below 2: the cut-off with every checkpoint and the furthest one are always
    kept, so fewer could not keep the promise."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise SettingError("max_cutoffs", "must be a whole number of at least 2 (the cut-off "
                           "with every checkpoint and the furthest one are always kept), got "
                           f"{n!r}")


def spread_cutoffs(flops_ratio: np.ndarray, loss_gap: np.ndarray, n: int) -> list[int]:
    """Which of the cut-offs (positions in ``flops_ratio``/``loss_gap``, position 0 the one with
    every checkpoint) to fit when only ``n`` may be: spread evenly on the scale the summary
    reports the lead on, so the answer is sampled where it is decided.

    The scale is log FLOPs ratio when every cut-off has a positive FLOPs ratio and the largest
    is at least ``MIN_FLOPS_LEAD`` (:meth:`BacktestResult.best` reports a ratio then), else the
    loss gap. Kept always: position 0 and the furthest cut-off on that scale; the other ``n - 2``
    are the nearest not yet kept to ``n - 2`` evenly spaced points between the scale's ends.
    Returns sorted positions; all of them when ``n`` is at least their number.
    """
    check_max_cutoffs(n)
    ratio = np.asarray(flops_ratio, dtype=float)
    gap = np.asarray(loss_gap, dtype=float)
    total = len(gap)
    if n >= total:
        return list(range(total))
    if np.isfinite(ratio).all() and (ratio > 0).all() and ratio.max() >= MIN_FLOPS_LEAD:
        key = np.log(ratio)
    else:
        key = np.where(np.isfinite(gap), gap, -np.inf)  # a cut-off without a gap is never "far"
    far = int(np.argmax(key))
    chosen = dict.fromkeys([0, far])
    finite = np.isfinite(key)
    lo, hi = float(key[finite].min()), float(key[finite].max())
    free = np.ones(total, dtype=bool)
    free[list(chosen)] = False
    for target in np.linspace(lo, hi, n)[1:-1]:
        if len(chosen) >= n:
            break
        dist = np.where(free, np.abs(np.where(finite, key, np.inf) - target), np.inf)
        pick = int(np.argmin(dist))  # ties: the one with more checkpoints
        chosen[pick] = None
        free[pick] = False
    for pick in np.flatnonzero(free)[: n - len(chosen)]:  # only when n - 2 targets fell short
        chosen[int(pick)] = None
    return sorted(chosen)


def _method_params(method: str, law: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    if method == "emergence_law":
        return dict(law)
    post = law.get("posterior", "mcmc")
    return {"posterior": "none" if post == "none" else "bootstrap",
            "n_samples": min(int(law.get("n_samples", 200)), 200), "seed": law.get("seed", 0),
            **baseline}


def run_backtest(obs: pd.DataFrame | str | Path, task: str, *,
                 method: str = "emergence_law", law: dict[str, Any] | None = None,
                 baseline: dict[str, Any] | None = None,
                 threshold: float = DEFAULT_THRESHOLD, cutoff: float | None = None,
                 order_by: str = "auto", min_checkpoints: int = 3,
                 metric: str | None = None, series: str | None = None,
                 ft_method: str | None = None, workers: int | None = None,
                 max_cutoffs: int | None = None, progress: bool = True,
                 on_update: Callable[[BacktestResult], None] | None = None) -> BacktestResult:
    """Hold out the most capable pre-emergence checkpoints one by one; score every refit.

    ``law``: EmergenceLaw settings; ``baseline``: TwoStepBaseline settings (e.g. nll_metric);
    ``cutoff``: pre-emergence means loss >= cutoff (default: the ground-truth elbow);
    ``min_checkpoints``: stop holding out when fewer would remain; ``max_cutoffs``: fit at most
    this many cut-offs, chosen by :func:`spread_cutoffs` (default None: every cut-off).
    """
    from emergence_law.analysis.ground_truth import ground_truth_emergence

    methods = list(METHODS) if method == "both" else [method]
    if any(m not in METHODS for m in methods):
        raise SettingError("method", f"unknown method {method!r} (use emergence_law, two_step "
                           "or both)")
    if threshold <= 0:
        raise SettingError("threshold", f"must be positive, got {threshold}")
    if min_checkpoints < 2:
        raise SettingError("min_checkpoints", "must be at least 2")
    if max_cutoffs is not None:
        check_max_cutoffs(max_cutoffs)
    if order_by not in ("auto", "flops", "loss"):
        raise SettingError("order_by", f"use auto, flops or loss, not {order_by!r}")
    if "emergence_law" in methods:  # a bad setting: once, not in every job
        from emergence_law.fitting import EmergenceLaw

        EmergenceLaw(**{**DEFAULT_LAW, **(law or {})}).validate_params()
    obs = load_observations(obs)
    if "emergence_law" not in methods:  # the two-step baseline reads few-shot rows only
        obs = obs[obs["setting"] == "fewshot"]
    rows, metric, ft_method = task_rows(obs, task, metric=metric, series=series,
                                        method=ft_method)
    every = obs[obs["task"] == task]
    if series is not None:
        every = every[every["series"] == series]
    baseline = dict(baseline or {})
    if "two_step" in methods:  # fail now, in one line, rather than in every job
        from emergence_law.analysis.baseline import find_nll_metric

        find_nll_metric(every, baseline.get("nll_metric"))
    gt = ground_truth_emergence(rows, task, metric=metric)
    cut = float(gt.elbow if cutoff is None else cutoff)
    ck = checkpoint_table(rows, order_by)
    by = ck.attrs["order_by"]
    pre = ck[ck["loss"] >= cut]
    post = ck[ck["loss"] < cut]
    if len(pre) < min_checkpoints:
        raise NotIdentifiableError(f"task {task!r}: only {len(pre)} checkpoints at or above the "
                                   f"cut-off loss {cut:.4f}; the backtest needs "
                                   f"{min_checkpoints}")
    if post.empty:
        raise DataError(f"task {task!r}: no checkpoint below the cut-off loss {cut:.4f}, so no "
                        "post-emergence checkpoint to measure the lead against")
    first_post = post.iloc[0]  # least capable post-emergence checkpoint
    law = {**DEFAULT_LAW, **(law or {})}
    keys_all = checkpoint_keys(rows)
    keys_every = checkpoint_keys(every)

    records: list[dict[str, Any]] = []
    jobs: list[FitJob] = []
    order = pre["key"].tolist()  # least -> most capable
    cutoffs = []  # every cut-off's place; which are fitted is chosen from these
    for h in range(0, len(order) - min_checkpoints + 1):
        used = order[: len(order) - h]
        u = pre[pre["key"].isin(used)]
        mf = float(u["flops"].max()) if u["flops"].notna().all() else np.nan
        cut_loss = float(u["loss"].min())
        cutoffs.append({"n_held_out": h, "n_checkpoints": len(used), "cutoff_loss": cut_loss,
                        "max_flops_used": mf, "used": used,
                        "flops_ratio": (float(first_post["flops"]) / mf if np.isfinite(mf)
                                        else np.nan),
                        "loss_gap": cut_loss - float(first_post["loss"])})
    n_all = len(cutoffs)
    if max_cutoffs is not None:
        cutoffs = [cutoffs[i] for i in spread_cutoffs(
            np.array([c["flops_ratio"] for c in cutoffs]),
            np.array([c["loss_gap"] for c in cutoffs]), max_cutoffs)]
    for m in methods:
        params = _method_params(m, law, baseline)
        src, keys = (rows, keys_all) if m == "emergence_law" else (every, keys_every)
        for c in cutoffs:
            h, used = c["n_held_out"], c["used"]
            sub = src[keys.isin(used).to_numpy()]
            rec = {"method": m, "n_held_out": h, "n_checkpoints": c["n_checkpoints"],
                   "cutoff_loss": c["cutoff_loss"], "max_flops_used": c["max_flops_used"],
                   "first_post_loss": float(first_post["loss"]),
                   "first_post_flops": float(first_post["flops"]),
                   "gt": gt.elbow, "status": "pending", "reason": "", "metric": metric,
                   # the two-step baseline reads few-shot rows only: no finetuning method
                   "ft_method": ft_method if m == "emergence_law" else None,
                   "flops_ratio": c["flops_ratio"], "loss_gap": c["loss_gap"]}
            records.append(rec)
            jobs.append(FitJob(f"{m} -{h}", sub, task, params, m, metric))
    table = pd.DataFrame.from_records(records)
    for c in CSV_COLUMNS:
        if c not in table.columns:
            table[c] = np.nan
    table = table[CSV_COLUMNS].astype({"success": object, "status": object, "reason": object})
    result = BacktestResult(task, table, gt, threshold, by,
                            info={"metric": metric, "ft_method": ft_method, "cutoff": cut,
                                  "methods": methods, "n_cutoffs": len(cutoffs),
                                  "n_cutoffs_all": n_all, "max_cutoffs": max_cutoffs,
                                  "first_post_checkpoint": str(first_post["key"])})

    loss_range = (float(every["loss"].min()), float(every["loss"].max()))

    def on_result(i: int, res: dict[str, Any]) -> None:
        record_fit(table, [i], res, jobs[i], gt.elbow, threshold, loss_range,
                   columns=SCORE_COLUMNS, note="reason")
        if on_update is not None:
            on_update(result)

    run_jobs(run_fit_job, jobs, workers=workers, description=f"backtest ({task})",
             progress=progress, on_result=on_result)
    table["success"] = table["success"].astype("boolean")
    return result
