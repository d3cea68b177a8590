"""The per-instance PassUntil counts table: one row per (model, task, instance).

Columns ``model, params, task, instance, trials, passes`` are required; ``censored`` (sampling
hit the budget before the r-th pass), ``r`` and ``budget`` are optional. When ``censored`` is
missing it is inferred as ``passes < r`` if ``r`` is known, else ``passes == 0`` (a zero-pass
instance cannot have stopped at a pass). Validation reuses the observation table's schema
machinery, so a bad cell gets one error naming file, row and column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emergence_law.errors import DataError
from emergence_law.observations import Column, TableSchema, read_table, validate_table

COUNTS_SCHEMA = TableSchema(
    "passuntil_counts",
    (
        Column("model", "str", required=True, doc="model id or path"),
        Column("params", "float", required=True, minimum=1, doc="parameter count N"),
        Column("task", "str", required=True, doc="task name"),
        Column("instance", "str", required=True, doc="instance id within the task"),
        Column("trials", "int", required=True, minimum=1, doc="samples drawn K"),
        Column("passes", "int", required=True, minimum=0, doc="samples that passed R"),
        Column("censored", "bool", doc="stopped at the budget before the r-th pass"),
        Column("r", "int", minimum=1, doc="passes PassUntil waited for"),
        Column("budget", "int", minimum=1, doc="sample budget per instance"),
    ),
)

COUNTS_COLUMNS = COUNTS_SCHEMA.names


def _row(i: int) -> int:
    return int(i) + 1


def validate_counts(df: pd.DataFrame, source: str = "<counts>") -> pd.DataFrame:
    """Validate a counts table and fill ``censored`` where it can be inferred."""
    df = validate_table(df, COUNTS_SCHEMA, source)
    k = df["trials"].to_numpy(dtype=float)
    x = df["passes"].to_numpy(dtype=float)
    bad = x > k
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"passes ({int(x[i])}) exceed trials ({int(k[i])})", source=source,
                        row=_row(i), column="passes")
    b = df["budget"].to_numpy(dtype=float)
    over = ~np.isnan(b) & (k > b)
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise DataError(f"trials ({int(k[i])}) exceed the budget ({int(b[i])})", source=source,
                        row=_row(i), column="trials")
    r = df["r"].to_numpy(dtype=float)
    inferred = np.where(~np.isnan(r), x < r, x == 0)
    cens = df["censored"]
    df["censored"] = cens.fillna(pd.Series(inferred, index=df.index)).astype(bool)
    zero_done = (~df["censored"].to_numpy()) & (x == 0)
    if zero_done.any():
        i = int(np.flatnonzero(zero_done)[0])
        raise DataError("an instance with no pass must be censored (sampling cannot stop at a "
                        "pass that never came)", source=source, row=_row(i), column="censored")
    key = ["model", "task", "instance"]
    dup = df.duplicated(key)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError("duplicate (model, task, instance)", source=source, row=_row(i),
                        column="instance")
    return df


def load_counts(path: str | Path | pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Load and validate a counts table from CSV/TSV/Parquet/JSONL, or a DataFrame."""
    if isinstance(path, pd.DataFrame):
        return validate_counts(path, source or "<dataframe>")
    return validate_counts(read_table(path), source or str(path))


def select_counts(counts: pd.DataFrame, task: str | None = None,
                  source: str = "counts") -> tuple[str, pd.DataFrame]:
    """The rows of one task (the only one if ``task`` is None), and the task's name."""
    tasks = sorted(counts["task"].dropna().unique())
    if task is None:
        if len(tasks) != 1:
            raise DataError(f"the table holds several tasks ({', '.join(tasks)}); choose one with "
                            "--task", source=source, column="task")
        task = tasks[0]
    if task not in tasks:
        raise DataError(f"task {task!r} has no rows (tasks present: {', '.join(tasks)})",
                        source=source, column="task")
    rows = counts[counts["task"] == task].reset_index(drop=True)
    sizes = rows.groupby("model")["params"].nunique()
    if (sizes > 1).any():
        raise DataError(f"model {sizes[sizes > 1].index[0]!r} has several params values",
                        source=source, column="params")
    return task, rows
