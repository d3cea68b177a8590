"""The observation table: one row per measured number, in long format.

Every later stage (fitting, analyses, reports) reads only this table, so a user with results from
any harness can use the fitting half alone. Loading validates every cell and names the file, row
and column of the first bad one; nothing is dropped silently (rows of other tasks are counted).

Columns (DESIGN.md): ``series, model, checkpoint, params, tokens, flops, loss, task, metric,
value, setting, shots, n_train, subset, method, n_eval, chance``. Only ``loss, task, setting,
value`` are always required; ``n_train`` for finetuned rows; ``shots`` for few-shot rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emergence_law.errors import DataError
from emergence_law.tables import (
    FORMATS,
    Column,
    TableSchema,
    read_table,
    refuse_first,
    row_label,
    validate_table,
    write_csv_atomic,
)

__all__ = [
    "DEFAULT_METRIC", "MEASUREMENT_KEY", "OBSERVATION_COLUMNS", "OBSERVATION_SCHEMA",
    "PROPORTION_METRICS", "SETTINGS", "Column", "TableSchema", "TaskSelection", "choose_metric",
    "load_observations", "read_table", "rows_to_frame", "save_observations", "select_task",
    "validate_observations", "validate_table", "write_csv_atomic",
]

SETTINGS = ("fewshot", "finetune")
#: metrics whose values are proportions and must lie in [0, 1]
PROPORTION_METRICS = frozenset({"acc", "acc_norm", "accuracy", "exact_match", "em", "pass_rate",
                                "len_norm"})  # len_norm: OLMo's length-normalized accuracy


OBSERVATION_SCHEMA = TableSchema(
    "observations",
    (
        Column("series", "str", doc="model family / pretraining-data recipe"),
        Column("model", "str", doc="model id"),
        Column("checkpoint", "str", doc="revision or training step"),
        Column("params", "float", minimum=0, doc="parameter count"),
        Column("tokens", "float", minimum=0, doc="pretraining tokens seen"),
        Column("flops", "float", minimum=0, doc="pretraining FLOPs (default 6*params*tokens)"),
        Column("loss", "float", required=True, minimum=0,
               doc="pretraining (validation) loss, nats"),
        Column("task", "str", required=True, doc="task name"),
        Column("metric", "str", doc="metric name (default 'acc')"),
        Column("value", "float", required=True, doc="measured metric value"),
        Column("setting", "str", required=True, doc="'fewshot' or 'finetune'"),
        Column("shots", "int", minimum=0, doc="examples in the prompt"),
        Column("n_train", "int", minimum=1, doc="finetuning examples D"),
        Column("subset", "int", minimum=0, doc="index of the random finetuning subset"),
        Column("method", "str", doc="'full', 'lora-r4', ... (finetune rows)"),
        Column("n_eval", "int", minimum=1, doc="evaluated examples"),
        Column("chance", "float", minimum=0, doc="random-chance level of the metric"),
    ),
)

OBSERVATION_COLUMNS = OBSERVATION_SCHEMA.names
#: the columns that identify one measurement; two rows agreeing on all of them are one
#: measurement recorded twice (or two measurements the table cannot tell apart)
MEASUREMENT_KEY = ("series", "model", "checkpoint", "loss", "task", "metric", "setting", "shots",
                   "n_train", "subset", "method")
#: metric used when a task has several and none is chosen (docs/core.md, "Which metric")
DEFAULT_METRIC = "acc"


def validate_observations(df: pd.DataFrame, source: str = "<table>", *,
                          require_loss: bool = True) -> pd.DataFrame:
    """Validate an observation table and fill the derivable defaults.

    Beyond the per-cell checks of :func:`validate_table`: ``setting`` must be ``fewshot`` or
    ``finetune``; finetuned rows need ``n_train``; few-shot rows need ``shots``; proportions
    (``acc`` and friends) must lie in [0, 1]. Defaults: ``metric='acc'``, ``method='full'`` for
    finetuned rows, ``subset=0``, ``flops = 6*params*tokens`` when both are known. Two rows that
    agree on every column of :data:`MEASUREMENT_KEY` are refused (a table pasted twice, or
    finetuning methods or subsets the table cannot tell apart). ``require_loss=False`` checks
    rows that get their loss later (an lm-eval import) as strictly, loss cells included.
    """
    df = validate_table(df, OBSERVATION_SCHEMA, source,
                        optional=() if require_loss else ("loss",))
    setting = df["setting"].str.lower()
    refuse_first((~setting.isin(SETTINGS)).to_numpy(),
                 lambda i: f"unknown setting {df['setting'].iloc[i]!r} (expected one of: "
                 f"{', '.join(SETTINGS)})", source=source, column="setting")
    df["setting"] = setting
    ft = (setting == "finetune").to_numpy()
    fs = ~ft
    refuse_first(ft & df["n_train"].isna().to_numpy(),
                 "finetuned row needs n_train (the number of finetuning examples)",
                 source=source, column="n_train")
    refuse_first(fs & df["shots"].isna().to_numpy(),
                 "few-shot row needs shots (the number of examples in the prompt)",
                 source=source, column="shots")
    no_metric = df["metric"].isna().to_numpy()
    df["metric"] = df["metric"].fillna("acc")
    no_method = ft & df["method"].isna().to_numpy()
    no_subset = ft & df["subset"].isna().to_numpy()
    df["method"] = df["method"].mask(pd.Series(ft, index=df.index) & df["method"].isna(), "full")
    df["subset"] = df["subset"].fillna(0)
    _refuse_repeats(df, source, no_method, no_subset, no_metric)
    prop = df["metric"].str.lower().isin(PROPORTION_METRICS).to_numpy()
    v = df["value"].to_numpy(dtype=float)
    refuse_first(prop & ((v < 0) | (v > 1)),
                 lambda i: f"{df['metric'].iloc[i]} must lie in [0, 1], got {v[i]:g}",
                 source=source, column="value")
    ch = df["chance"].to_numpy(dtype=float)
    refuse_first(prop & ~np.isnan(ch) & (ch > 1),
                 lambda i: f"chance level of a proportion must lie in [0, 1], got {ch[i]:g}",
                 source=source, column="chance")
    p = df["params"].to_numpy(dtype=float)
    t = df["tokens"].to_numpy(dtype=float)
    f = df["flops"].to_numpy(dtype=float)
    fill = np.isnan(f) & ~np.isnan(p) & ~np.isnan(t)
    if fill.any():
        f = f.copy()
        f[fill] = 6.0 * p[fill] * t[fill]
        df["flops"] = f
    return df


def _refuse_repeats(df: pd.DataFrame, source: str, no_method: np.ndarray,
                    no_subset: np.ndarray, no_metric: np.ndarray | None = None) -> None:
    """Refuse two rows that are the same measurement (see :data:`MEASUREMENT_KEY`).

    A repeat would weigh one checkpoint twice; with finetuned rows whose method or subset was
    not given it is usually two different runs (LoRA and full finetuning, two random subsets)
    that the table cannot tell apart, and pooling them silently would fit a mixture.
    """
    key = df[list(MEASUREMENT_KEY)].astype("string").fillna("<na>")
    rep = key.duplicated(keep=False).to_numpy()
    if not rep.any():
        return
    first = key[rep].duplicated(keep="first")
    j = int(np.flatnonzero(rep)[np.flatnonzero(first.to_numpy())[0]])
    same = key.iloc[:j].eq(key.iloc[j]).all(axis=1).to_numpy()
    i = int(np.flatnonzero(same)[0])
    v = df["value"].to_numpy(dtype=float)
    what = "repeats" if v[i] == v[j] or (np.isnan(v[i]) and np.isnan(v[j])) else \
        f"contradicts (value {v[j]:g} vs {v[i]:g})"
    hints = []
    if no_metric is not None and (no_metric[i] or no_metric[j]):  # e.g. acc and bpb rows
        hints.append("rows without a metric are taken as 'acc': if these are different "
                     "metrics (e.g. acc and bpb), add a 'metric' column")
    if no_method[i] or no_method[j]:
        hints.append("finetuned rows without a method are taken as 'full': if these are "
                     "different finetuning methods (e.g. LoRA and full), add a 'method' column")
    if no_subset[i] or no_subset[j]:
        hints.append("finetuned rows without a subset are taken as subset 0: if these are "
                     "different random finetuning subsets, add a 'subset' column")
    hint = "; ".join(hints) or "remove the repeated rows"
    raise DataError(f"{what} the measurement of row {row_label(i)} (same model, checkpoint, "
                    f"loss, task, metric, setting, shots, n_train, subset and method); {hint}",
                    source=source, row=row_label(j))


def load_observations(path: str | Path | pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Load and validate an observation table from a file (CSV, Parquet, JSONL) or a DataFrame."""
    if isinstance(path, pd.DataFrame):
        return validate_observations(path, source or "<dataframe>")
    raw = read_table(path)
    return validate_observations(raw, source or str(path))


def save_observations(df: pd.DataFrame, path: str | Path) -> Path:
    """Write an observation table; the format follows the file suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt == "parquet":
        out = df.copy()
        for c in out.columns:
            if out[c].dtype == object:
                out[c] = out[c].astype("string")
        out.to_parquet(path, index=False)
    elif fmt in ("csv", "tsv"):
        df.to_csv(path, index=False, sep="\t" if fmt == "tsv" else ",")
    elif fmt == "jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        raise DataError(
            f"unknown table format {path.suffix!r} (use .csv, .tsv, .parquet or .jsonl)",
            source=str(path),
        )
    return path



def rows_to_frame(rows: Iterable[Mapping]) -> pd.DataFrame:
    """Build an (unvalidated) observation DataFrame from row dicts, columns in schema order."""
    df = pd.DataFrame.from_records(list(rows))
    for c in OBSERVATION_COLUMNS:
        if c not in df.columns:
            df[c] = pd.NA
    extra = [c for c in df.columns if c not in OBSERVATION_COLUMNS]
    return df[OBSERVATION_COLUMNS + extra]


# ---------------------------------------------------------------------------------------------
# selecting one task


@dataclass
class TaskSelection:
    """The rows of one task, and a count of what was left out and why."""

    task: str
    rows: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)
    metric: str | None = None
    metric_rule: str = ""
    method: str | None = None

    @property
    def fewshot(self) -> pd.DataFrame:
        return self.rows[self.rows["setting"] == "fewshot"]

    @property
    def finetune(self) -> pd.DataFrame:
        return self.rows[self.rows["setting"] == "finetune"]

    def describe(self) -> str:
        ft = self.finetune
        levels = sorted(int(x) for x in ft["n_train"].dropna().unique())
        head = f"task {self.task}"
        if self.metric is not None:
            head += f", metric {self.metric} ({self.metric_rule})"
        if self.method is not None:
            head += f", finetuning method {self.method}"
        parts = [
            f"{head}: {len(self.rows)} rows "
            f"({len(self.fewshot)} few-shot, {len(ft)} finetuned; data levels D = "
            f"{', '.join(map(str, levels)) or 'none'})"
        ]
        if self.excluded:
            parts.append("excluded: " + ", ".join(f"{n} {why}" for why, n in self.excluded.items()))
        return "; ".join(parts)


def select_task(
    obs: pd.DataFrame,
    task: str,
    *,
    metric: str | None = None,
    series: str | None = None,
    method: str | None = None,
    source: str = "observations",
) -> TaskSelection:
    """Rows of ``task`` (optionally one metric, series, finetuning method), counting the rest.

    The metric follows :func:`choose_metric` (never the row counts); finetuned rows of several
    methods need ``method``. What was chosen, and why, is in the selection's ``describe()``.
    """
    tasks = obs["task"].dropna().astype(str)
    if task not in set(tasks):
        avail = ", ".join(sorted(set(tasks))[:20]) or "none"
        raise DataError(f"task {task!r} has no rows (tasks present: {avail})", source=source,
                        column="task")
    excluded: dict[str, int] = {}
    other = int((tasks != task).sum())
    if other:
        excluded["rows of other tasks"] = other
    rows = obs[obs["task"] == task]
    if series is not None:
        if series not in set(rows["series"].dropna()):
            have = ", ".join(sorted(map(str, rows["series"].dropna().unique()))) or "none"
            raise DataError(f"series {series!r} has no rows for task {task!r} (series: "
                            f"{have})", source=source, column="series")
        n = int((rows["series"] != series).fillna(True).sum())
        if n:
            excluded["rows of other series"] = n
        rows = rows[rows["series"] == series]
    metric, rule = choose_metric(rows["metric"], task, metric, source=source)
    n = int((rows["metric"] != metric).sum())
    if n:
        excluded[f"rows of other metrics than {metric!r}"] = n
    rows = rows[rows["metric"] == metric]
    if method is not None:
        keep = (rows["setting"] == "fewshot") | (rows["method"] == method)
        n = int((~keep).sum())
        if n:
            excluded[f"finetuned rows of other methods than {method!r}"] = n
        rows = rows[keep]
    else:
        methods = rows.loc[rows["setting"] == "finetune", "method"].dropna().unique()
        if len(methods) > 1:
            raise DataError(
                f"task {task!r} has finetuned rows of several methods "
                f"({', '.join(sorted(methods))}); choose one: --method {sorted(methods)[0]} "
                f"in fit, --ft-method {sorted(methods)[0]} in ablate, backtest and compare, "
                f"method={sorted(methods)[0]!r} in Python",
                source=source, column="method",
            )
        method = str(methods[0]) if len(methods) else None
    return TaskSelection(task=task, rows=rows.reset_index(drop=True), excluded=excluded,
                         metric=metric, metric_rule=rule, method=method)


def choose_metric(metrics: pd.Series | Iterable[str], task: str, metric: str | None = None,
                  *, source: str = "observations") -> tuple[str, str]:
    """The metric to fit for ``task``, and the rule that chose it, in this order of precedence:

    1. the one asked for (``--metric``);
    2. the task's only metric;
    3. ``acc`` when the task has it (accuracy is what the emergence law models);
    4. otherwise no guess: a :class:`DataError` lists the metrics and asks for ``--metric``.

    The choice never depends on how many rows each metric has (removing one row must not switch
    the fit to another metric).
    """
    present = sorted({str(m) for m in pd.Series(list(metrics), dtype=object).dropna()})
    if metric is not None:
        if metric not in present:
            raise DataError(f"metric {metric!r} has no rows for task {task!r} (metrics: "
                            f"{', '.join(present) or 'none'})", source=source, column="metric")
        return metric, "chosen with --metric"
    if len(present) == 1:
        return present[0], "the task's only metric"
    if DEFAULT_METRIC in present:
        others = ", ".join(m for m in present if m != DEFAULT_METRIC)
        return DEFAULT_METRIC, f"the default for accuracy-type tasks; also present: {others}"
    raise DataError(f"task {task!r} has several metrics ({', '.join(present)}) and none is "
                    f"{DEFAULT_METRIC!r}; choose one with --metric", source=source,
                    column="metric")
