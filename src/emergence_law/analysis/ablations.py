"""The paper's ablations (Table 2 and Fig. 6): refit on reduced data or other settings, score each.

Every ablation is a rule for which rows (or which estimator settings) a fit gets; all of them are
scored against one ground truth (the ReLU fitted to every few-shot row). Fits only ever see
checkpoints whose loss is at or above the cut-off (the ground-truth elbow unless the user gives
one): a prediction that saw a post-emergence few-shot result is no prediction.

Definitions (checkpoints ordered from least to most capable, see ``checkpoints.py``; "last"
means most capable):

- ``full data``: every pre-emergence row.
- ``-k smallest/largest data level``: drop the finetuned rows of the k smallest/largest n_train.
- ``only subset sample i``: keep finetuned rows of the i-th random subset (sorted subset ids).
- ``last k checkpoints``: only the k most capable pre-emergence checkpoints.
- ``last 6, every other (even|odd)``: of the 6 most capable, the 1st/3rd/5th (even) or the
  2nd/4th/6th (odd), counting from the most capable.
- ``-k last checkpoints``: drop the k most capable pre-emergence checkpoints.
- ``form: log_power|power|no_fewshot``: the E(D) functional form.
- ``D0 = mN``: extrapolate to D0 = m times the number of few-shot examples N.

An ablation that cannot apply to the table (one subset sample only, fewer data levels than it
drops, 0-shot rows for D0 = mN) is reported as skipped with its reason, never silently dropped.
Ablations with identical rows and settings (``full data``, ``form: log_power``, ``D0 = 1N``) are
fitted once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.analysis.checkpoints import checkpoint_keys, checkpoint_table
from emergence_law.analysis.jobs import FitJob, run_fit_job, score
from emergence_law.analysis.runner import run_jobs
from emergence_law.analysis.sanity import check_prediction
from emergence_law.errors import DataError, SettingError
from emergence_law.observations import load_observations, select_task, write_csv_atomic

DEFAULT_THRESHOLD = 0.1
#: estimator settings used when the caller gives none (the paper's defaults)
DEFAULT_LAW = {"form": "log_power", "likelihood": "gaussian", "shared_ab": True,
               "posterior": "mcmc", "n_samples": 2000, "seed": 0}
CSV_COLUMNS = ["ablation", "group", "error", "error_p5", "error_median", "error_p95", "success",
               "mle", "gt", "p5", "p50", "p95", "status", "reason", "note", "n_rows", "n_checkpoints",
               "n_levels", "seconds", "metric", "ft_method"]


class AblationSkipped(Exception):
    """The ablation does not apply to this table; the message says why."""


@dataclass(frozen=True)
class Ablation:
    """One ablation: a name for tables, a group for the plot, and its rule (kind, value)."""

    name: str
    group: str
    kind: str
    value: Any = None


def standard_ablations() -> list[Ablation]:
    """The issue's full grid, in the paper's order."""
    out = [Ablation("full data", "full", "full")]
    out += [Ablation(f"-{k} smallest data level{'s' if k > 1 else ''}", "data", "drop_smallest", k)
            for k in (1, 2, 3)]
    out += [Ablation(f"-{k} largest data level{'s' if k > 1 else ''}", "data", "drop_largest", k)
            for k in (1, 2, 3)]
    out += [Ablation(f"only subset sample {i}", "data", "only_subset", i) for i in (1, 2)]
    out += [Ablation(f"last {k} checkpoints", "checkpoints", "last", k) for k in (6, 5, 4, 3)]
    out += [Ablation(f"last 6, every other ({p})", "checkpoints", "every_other", p)
            for p in ("even", "odd")]
    out += [Ablation(f"-{k} last checkpoint{'s' if k > 1 else ''}", "checkpoints", "drop_last", k)
            for k in (1, 2, 3, 4)]
    out += [Ablation(f"form: {f}", "form", "form", f)
            for f in ("log_power", "power", "no_fewshot")]
    out += [Ablation(f"D0 = {m}N", "d0", "d0", m) for m in (1, 2, 5, 10, 20)]
    return out


def select_ablations(only: list[str] | None) -> list[Ablation]:
    """The standard ablations whose name or group is in ``only`` (all of them if empty)."""
    grid = standard_ablations()
    if not only:
        return grid
    wanted = {o.strip().lower() for o in only}
    picked = [a for a in grid if a.name.lower() in wanted or a.group in wanted]
    known = {a.name.lower() for a in grid} | {a.group for a in grid}
    unknown = sorted(wanted - known)
    if unknown:
        groups = ", ".join(dict.fromkeys(a.group for a in grid))
        raise SettingError("only", f"unknown ablation {unknown[0]!r} (use a name from the table, "
                           f"e.g. 'last 3 checkpoints', or a group: {groups})")
    return picked


def _levels(rows: pd.DataFrame) -> list[float]:
    ft = rows[rows["setting"] == "finetune"]
    return sorted(float(x) for x in ft["n_train"].dropna().unique())


def _drop_levels(rows: pd.DataFrame, drop: list[float]) -> pd.DataFrame:
    ft = rows["setting"] == "finetune"
    return rows[~(ft & rows["n_train"].astype(float).isin(drop))]


def apply_ablation(ab: Ablation, rows: pd.DataFrame, ckpts: pd.DataFrame, shots: int | None,
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rows and estimator overrides for ``ab``; raises :class:`AblationSkipped` if it cannot apply.

    ``rows``: the pre-emergence rows; ``ckpts``: their checkpoints in capability order
    (:func:`checkpoint_table`); ``shots``: N, the few-shot examples in the prompt.
    """
    levels = _levels(rows)
    keys = checkpoint_keys(rows)
    order = ckpts["key"].tolist()  # least -> most capable
    k = ab.value
    if ab.kind == "full":
        return rows, {}
    if ab.kind in ("drop_smallest", "drop_largest"):
        if len(levels) - k < 2:
            raise AblationSkipped(f"the table has {len(levels)} data levels; dropping {k} leaves "
                                  f"{max(len(levels) - k, 0)} (the law needs 2)")
        drop = levels[:k] if ab.kind == "drop_smallest" else levels[-k:]
        return _drop_levels(rows, drop), {}
    if ab.kind == "only_subset":
        ft = rows["setting"] == "finetune"
        subsets = sorted(int(s) for s in rows.loc[ft, "subset"].dropna().unique())
        if len(subsets) < 2:
            raise AblationSkipped(f"only {len(subsets)} subset sample exists (subset ids "
                                  f"{subsets or 'none'}); nothing to ablate")
        if k > len(subsets):
            raise AblationSkipped(f"only {len(subsets)} subset samples exist")
        keep = subsets[k - 1]
        return rows[~ft | (rows["subset"] == keep)], {}
    if ab.kind == "last":
        if len(order) <= k:
            raise AblationSkipped(f"only {len(order)} pre-emergence checkpoints: the last {k} "
                                  "are all of them (same as full data)")
        return rows[keys.isin(order[-k:]).to_numpy()], {}
    if ab.kind == "every_other":
        if len(order) < 6:
            raise AblationSkipped(f"only {len(order)} pre-emergence checkpoints; needs 6")
        last6 = order[-6:][::-1]  # most capable first
        pick = last6[0::2] if k == "even" else last6[1::2]
        return rows[keys.isin(pick).to_numpy()], {}
    if ab.kind == "drop_last":
        if len(order) <= k:
            raise AblationSkipped(f"only {len(order)} pre-emergence checkpoints; dropping {k} "
                                  "leaves none")
        return rows[keys.isin(order[:-k]).to_numpy()], {}
    if ab.kind == "form":
        return rows, {"form": k}
    if ab.kind == "d0":
        if not shots:
            raise AblationSkipped("the few-shot rows are 0-shot (N = 0), so D0 = m*N is 0")
        return rows, {"d0": float(k * shots)}
    raise ValueError(f"unknown ablation kind {ab.kind!r}")


# ---------------------------------------------------------------------------------------------


@dataclass
class AblationResult:
    """The ablation table (one row per ablation, CSV_COLUMNS) and what it was scored against."""

    task: str
    table: pd.DataFrame
    ground_truth: Any
    cutoff: float
    threshold: float
    law: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    def to_csv(self, path: str | Path) -> Path:
        return write_csv_atomic(self.table, path, float_format="%.6g")

    def to_result(self, markdown: bool = True) -> Any:
        """The typed ``ablations.csv`` and ``.md`` (:class:`~emergence_law.results.analysis.
        AblationTable`); ``markdown=False`` for the table alone (rewritten after every fit)."""
        from emergence_law.results.analysis import AblationTable

        return AblationTable(self.table, markdown=self.to_markdown() if markdown else None)

    def to_markdown(self) -> str:
        """The paper's Table 2 layout: error [5th, 95th percentile], success, or why skipped."""
        sel = selection_header(self.info.get("metric"), self.info.get("ft_method"))
        lines = [f"# Ablations: task `{self.task}`, {sel}", "",
                 f"Ground truth (ReLU on all few-shot rows): **{self.ground_truth.elbow:.4f}** "
                 f"nats; fits use checkpoints with loss >= {self.cutoff:.4f}; success: "
                 f"|MLE - GT| <= {self.threshold:g} nats.", "",
                 "| ablation | error (nats) [p5, p95] | MLE | success | note |",
                 "|---|---|---|---|---|"]
        for r in self.table.itertuples():
            if r.status == "ok":
                band = (f" [{r.error_p5:.3f}, {r.error_p95:.3f}]"
                        if not math.isnan(r.error_p5) else "")
                note = "fit warned (see CSV `note`)" if r.note else ""
                lines.append(f"| {r.ablation} | {r.error:.3f}{band} | {r.mle:.3f} | "
                             f"{'yes' if r.success else '**no**'} | {note} |")
            else:
                lines.append(f"| {r.ablation} | - | - | - | {r.status}: {r.reason} |")
        ok = self.table[self.table["status"] == "ok"]
        lines += ["", f"{int(ok['success'].sum())} of {len(ok)} fitted ablations succeeded; "
                  f"{int((self.table['status'] == 'skipped').sum())} skipped, "
                  f"{int((self.table['status'] == 'failed').sum())} failed."]
        return "\n".join(lines) + "\n"

    def plot(self, path: str | Path | None = None):
        from emergence_law.analysis.plots import plot_ablations

        return plot_ablations(self, path)

    @property
    def n_fitted(self) -> int:
        """Ablations whose fit gave a usable prediction (status ``ok``)."""
        return int((self.table["status"] == "ok").sum())

    def summary(self) -> str:
        ok = self.table[self.table["status"] == "ok"]
        full = self.table[self.table["ablation"] == "full data"]
        head = (f"full data: error {full['error'].iloc[0]:.3f} nats" if len(full) and
                full["status"].iloc[0] == "ok" else "full data: not fitted")
        sel = selection_header(self.info.get("metric"), self.info.get("ft_method"))
        return (f"task {self.task}, {sel}: ground truth {self.ground_truth.elbow:.4f} nats; "
                f"{head}; "
                f"{int(ok['success'].sum())}/{len(ok)} ablations within {self.threshold:g} nats "
                f"({int((self.table['status'] != 'ok').sum())} skipped or failed)")

    def to_dict(self) -> dict[str, Any]:
        t = self.table.astype(object).where(self.table.notna(), None)
        return {"task": self.task, "ground_truth": self.ground_truth.to_dict(),
                "cutoff": self.cutoff, "threshold": self.threshold, "law": self.law,
                "ablations": t.to_dict(orient="records"), **self.info}


def task_rows(obs: pd.DataFrame, task: str, *, metric: str | None = None,
              series: str | None = None, method: str | None = None,
              ) -> tuple[pd.DataFrame, str, str | None]:
    """Validated rows of one task, the metric and the finetuning method (None: no finetuned
    rows), chosen as ``select_task`` does; both go into every file and summary header."""
    sel = select_task(obs, task, metric=metric, series=series, method=method)
    metric = str(sel.rows["metric"].iloc[0])
    return sel.rows, metric, sel.method


def selection_header(metric: str | None, ft_method: str | None) -> str:
    """``metric M, finetuning method F``: what a summary's first line says was fitted."""
    return f"metric {metric or '?'}, finetuning method {ft_method or 'none'}"


def fewshot_n(rows: pd.DataFrame) -> int | None:
    """N: the most common number of shots among the few-shot rows (None if none)."""
    shots = rows.loc[rows["setting"] == "fewshot", "shots"].dropna()
    return None if shots.empty else int(shots.astype(int).value_counts().idxmax())


def plan_ablations(rows: pd.DataFrame, task: str, metric: str, cutoff: float,
                   law: dict[str, Any], ablations: list[Ablation] | None = None,
                   ) -> tuple[list[Ablation], list[FitJob | str]]:
    """For each ablation a :class:`FitJob`, or the reason it is skipped (a string)."""
    ablations = standard_ablations() if ablations is None else ablations
    pre = rows[rows["loss"].to_numpy(dtype=float) >= cutoff]
    if pre.empty:
        raise DataError(f"no checkpoint has loss >= the cut-off {cutoff:.4f}", column="loss")
    ckpts = checkpoint_table(pre)
    shots = fewshot_n(rows)
    if law.get("d0") is None and shots:
        law = {**law, "d0": float(shots)}  # what the estimator would pick; lets D0 = 1N dedupe
    plans: list[FitJob | str] = []
    for ab in ablations:
        try:
            sub, over = apply_ablation(ab, pre, ckpts, shots)
        except AblationSkipped as why:
            plans.append(str(why))
            continue
        plans.append(FitJob(ab.name, sub, task, {**law, **over}, "emergence_law", metric))
    return ablations, plans


def record_fit(table: pd.DataFrame, rows: list[int], res: dict[str, Any], job: FitJob,
               truth: float, threshold: float, loss_range: tuple[float, float], *,
               columns: dict[str, str] | None = None, note: str) -> None:
    """Write one fit's outcome into ``rows`` of an ablation or backtest ``table``: its seconds,
    then the status and reason of a failed fit (or one whose prediction fails the sanity
    check), else its :func:`score` against ``truth`` (``columns``: score key -> table column,
    default every key as is), status ok and its warnings in column ``note``."""
    if res["status"] == "ok":
        why = check_prediction(res, loss_range, job.params.get("posterior", "mcmc") != "none")
        if why:
            res = {**res, "status": "failed", "reason": why}
    s = score(res["mle"], res["samples"], truth, threshold) if res["status"] == "ok" else {}
    names = columns if columns is not None else {k: k for k in s}
    for i in rows:
        table.loc[i, "seconds"] = res["seconds"]
        if res["status"] != "ok":
            table.loc[i, ["status", "reason"]] = [res["status"], res["reason"]]
            continue
        for k, col in names.items():
            table.loc[i, col] = s[k]
        table.loc[i, "status"] = "ok"
        if res.get("warnings"):
            table.loc[i, note] = "; ".join(res["warnings"])


def run_ablations(obs: pd.DataFrame | str | Path, task: str, *, law: dict[str, Any] | None = None,
                  threshold: float = DEFAULT_THRESHOLD, cutoff: float | None = None,
                  metric: str | None = None, series: str | None = None,
                  method: str | None = None, ablations: list[Ablation] | None = None,
                  workers: int | None = None, progress: bool = True,
                  on_update: Callable[[AblationResult], None] | None = None) -> AblationResult:
    """Run the ablation grid for ``task`` and score each against the few-shot ground truth.

    ``law``: EmergenceLaw settings (defaults :data:`DEFAULT_LAW`); ``cutoff``: only checkpoints
    with loss >= cutoff are fitted (default: the ground-truth elbow). ``on_update`` receives the
    partial result each time a fit finishes (the CLI rewrites its CSV there).
    """
    from emergence_law.analysis.ground_truth import ground_truth_emergence

    if threshold <= 0:
        raise SettingError("threshold", f"must be positive, got {threshold}")
    from emergence_law.fitting import EmergenceLaw

    EmergenceLaw(**{**DEFAULT_LAW, **(law or {})}).validate_params()  # once, not in every job
    obs = load_observations(obs)
    rows, metric, ft_method = task_rows(obs, task, metric=metric, series=series, method=method)
    gt = ground_truth_emergence(rows, task, metric=metric)
    cut = float(gt.elbow if cutoff is None else cutoff)
    law = {**DEFAULT_LAW, **(law or {})}
    abls, plans = plan_ablations(rows, task, metric, cut, law, ablations)

    table = pd.DataFrame({"ablation": [a.name for a in abls], "group": [a.group for a in abls]})
    for c in CSV_COLUMNS[2:]:
        table[c] = np.nan
    table = table.astype({"status": object, "reason": object, "note": object, "success": object})
    table["status"] = "pending"
    table["reason"] = ""
    table["note"] = ""
    jobs: list[FitJob] = []
    owners: list[list[int]] = []  # job -> ablation rows it answers
    seen: dict[tuple, int] = {}
    for i, p in enumerate(plans):
        if isinstance(p, str):
            table.loc[i, ["status", "reason"]] = ["skipped", p]
            continue
        sub = p.rows
        table.loc[i, "n_rows"] = len(sub)
        table.loc[i, "n_checkpoints"] = checkpoint_keys(sub).nunique()
        table.loc[i, "n_levels"] = len(_levels(sub))
        sig = p.signature()
        if sig in seen:
            owners[seen[sig]].append(i)
            continue
        seen[sig] = len(jobs)
        jobs.append(p)
        owners.append([i])
    table["gt"] = gt.elbow
    table["metric"] = metric
    table["ft_method"] = ft_method
    result = AblationResult(task, table, gt, cut, threshold, law,
                            info={"metric": metric, "ft_method": ft_method, "n_fits": len(jobs),
                                  "order_by": checkpoint_table(rows).attrs["order_by"]})

    loss_range = (float(rows["loss"].min()), float(rows["loss"].max()))

    def on_result(j: int, res: dict[str, Any]) -> None:
        record_fit(table, owners[j], res, jobs[j], gt.elbow, threshold, loss_range, note="note")
        if on_update is not None:
            on_update(result)

    run_jobs(run_fit_job, jobs, workers=workers, description=f"ablations ({task})",
             progress=progress, on_result=on_result)
    table["success"] = table["success"].astype("boolean")
    for c in ("n_rows", "n_checkpoints", "n_levels"):
        table[c] = table[c].astype("Int64")
    return result
