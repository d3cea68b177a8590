"""The per-instance PassUntil counts table: one row per (model, task, instance).

Columns ``model, params, task, instance, trials, passes`` are required; ``censored`` (sampling
hit the budget before the r-th pass), ``r``, ``budget`` and ``design`` are optional.

**Sampling design.** A row comes from one of two designs, and the estimators differ:

* ``sample-until-r`` (PassUntil): sampling stopped at the r-th pass, or at the budget
  (``censored``). Recognised by an ``r`` or ``censored`` value. A missing ``censored`` is
  inferred as ``passes < r`` when ``r`` is known, else ``passes == 0``.
* ``fixed`` budget (binomial; e.g. "n samples per problem" tables): ``trials`` samples were
  drawn whatever happened, ``passes`` of them passed. Recognised by neither ``r`` nor
  ``censored`` being given. Every such row stopped at its budget, so it is stored with
  ``censored = True``: the unbiased estimate is then R/K and the exact interval Clopper-Pearson,
  as they must be for a binomial count. Reading such a row as sample-until-r would give
  (R-1)/(K-1), biased low.

A ``design`` column (``sample-until-r`` or ``fixed``) overrides the inference. Validation reuses
the observation table's schema machinery, so a bad cell gets one error naming file, row and
column; :func:`sampling_design` says in words which design a table holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emergence_law.errors import DataError
from emergence_law.tables import Column, TableSchema, read_table, validate_table

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
        Column("design", "str", doc="sample-until-r or fixed (default: inferred)"),
        Column("expected_rate", "float", minimum=0, doc="the instance's exact pass rate, "
               "where it is known (the lab's teacher-forced rates, lab/expected_rate.py)"),
    ),
)

COUNTS_COLUMNS = COUNTS_SCHEMA.names

#: the two sampling designs, as written in the ``design`` column
UNTIL_R, FIXED = "sample-until-r", "fixed"
_DESIGN_NAMES = {"sample-until-r": UNTIL_R, "sample_until_r": UNTIL_R, "until-r": UNTIL_R,
                 "passuntil": UNTIL_R, "inverse": UNTIL_R, "fixed": FIXED, "fixed-budget": FIXED,
                 "fixed_budget": FIXED, "binomial": FIXED}


def _row(i: int) -> int:
    return int(i) + 1


def validate_counts(df: pd.DataFrame, source: str = "<counts>") -> pd.DataFrame:
    """Validate a counts table and fill ``censored`` where it can be inferred."""
    df = validate_table(df, COUNTS_SCHEMA, source)
    if df.empty:  # a header alone read as "several tasks ()" further on
        raise DataError("no rows (a counts table needs one row per model and instance)",
                        source=source)
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
    design = _designs(df, r, source)
    df["design"] = design
    fixed = design == FIXED
    inferred = np.where(~np.isnan(r), x < r, x == 0)
    cens = df["censored"].astype("boolean")
    df["censored"] = cens.fillna(pd.Series(inferred, index=df.index)).astype(bool)
    df.loc[fixed, "censored"] = True  # a fixed-budget row stopped at its budget, not at a pass
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


def _designs(df: pd.DataFrame, r: np.ndarray, source: str) -> np.ndarray:
    """Each row's sampling design: stated in ``design``, else inferred from ``r``/``censored``."""
    until_r = ~np.isnan(r) | df["censored"].notna().to_numpy()
    out = np.where(until_r, UNTIL_R, FIXED).astype(object)
    stated = df["design"]
    for i in np.flatnonzero(stated.notna().to_numpy()):
        name = str(stated.iloc[i]).strip().lower()
        if name not in _DESIGN_NAMES:
            raise DataError(f"unknown sampling design {stated.iloc[i]!r} (expected "
                            f"{UNTIL_R} or {FIXED})", source=source, row=_row(i),
                            column="design")
        out[i] = _DESIGN_NAMES[name]
    return out


def sampling_design(counts: pd.DataFrame) -> str:
    """The table's sampling design in words, for the output of every command."""
    d = counts["design"] if "design" in counts else pd.Series([UNTIL_R] * len(counts))
    kinds = sorted(set(d.dropna()))
    if kinds == [FIXED]:
        k = counts["trials"]
        per = f"{int(k.min())}" if k.min() == k.max() else f"{int(k.min())}-{int(k.max())}"
        return f"fixed budget ({per} samples per instance, binomial counts)"
    if kinds == [UNTIL_R]:
        rs = counts["r"].dropna().unique() if "r" in counts else []
        rtxt = f"r = {int(rs[0])}" if len(rs) == 1 else "r per row"
        ncens = int(counts["censored"].sum())
        return f"sample-until-r ({rtxt}; {ncens} of {len(counts)} rows censored at the budget)"
    n_fixed = int((d == FIXED).sum())
    return (f"mixed: {len(counts) - n_fixed} rows sample-until-r, {n_fixed} rows fixed budget "
            "(each row estimated under its own design)")


def load_counts(path: str | Path | pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Load and validate a counts table from CSV/TSV/Parquet/JSONL, or a DataFrame."""
    if isinstance(path, pd.DataFrame):
        return validate_counts(path, source or "<dataframe>")
    return validate_counts(read_table(path), source or str(path))


def select_counts(counts: pd.DataFrame, task: str | None = None,
                  source: str = "counts") -> tuple[str, pd.DataFrame]:
    """The rows of one task (the only one if ``task`` is None), and the task's name."""
    tasks = sorted(counts["task"].dropna().unique())
    if not tasks:
        raise DataError("no rows with a task", source=source, column="task")
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
