"""The observation table: one row per measured number, in long format.

Every later stage (fitting, analyses, reports) reads only this table, so a user with results from
any harness can use the fitting half alone. Loading validates every cell and names the file, row
and column of the first bad one; nothing is dropped silently (rows of other tasks are counted).

Columns (DESIGN.md): ``series, model, checkpoint, params, tokens, flops, loss, task, metric,
value, setting, shots, n_train, subset, method, n_eval, chance``. Only ``loss, task, setting,
value`` are always required; ``n_train`` for finetuned rows; ``shots`` for few-shot rows.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from emergence_law.errors import DataError

Kind = Literal["float", "int", "str", "bool"]

SETTINGS = ("fewshot", "finetune")
#: metrics whose values are proportions and must lie in [0, 1]
PROPORTION_METRICS = frozenset({"acc", "acc_norm", "accuracy", "exact_match", "em", "pass_rate",
                                "len_norm"})  # len_norm: OLMo's length-normalized accuracy


@dataclass(frozen=True)
class Column:
    """One column of a validated table: its type, whether it must be present, its lower bound."""

    name: str
    kind: Kind
    required: bool = False
    minimum: float | None = None
    doc: str = ""


@dataclass(frozen=True)
class TableSchema:
    """A table's columns, in order. Unknown extra columns are kept as they are."""

    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


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
_MANGLED = re.compile(r"^(.+)\.(\d+)$")


def _row_label(index: int) -> int:
    """1-based data-row number as users count rows in a file (header excluded)."""
    return int(index) + 1


def _coerce_column(
    df: pd.DataFrame, col: Column, source: str, optional_mask: np.ndarray | None = None
) -> pd.Series:
    """Convert one column to its kind, raising DataError at the first cell that does not fit."""
    s = df[col.name]
    if col.kind == "str":
        out = s.astype("string")
        out = out.str.strip()
        out = out.mask(out == "", pd.NA)
        return out
    if col.kind == "bool":
        mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
        vals = []
        for i, v in enumerate(s.tolist()):
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                vals.append(pd.NA)
            elif isinstance(v, (bool, np.bool_)):
                vals.append(bool(v))
            elif str(v).strip().lower() in mapping:
                vals.append(mapping[str(v).strip().lower()])
            else:
                raise DataError(
                    f"expected true/false, got {v!r}", source=source, row=_row_label(i),
                    column=col.name,
                )
        return pd.Series(vals, index=s.index, dtype="boolean")
    arr = _numbers(s, col, source)
    inf = np.isinf(arr)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise DataError(
            f"value must be finite, got {arr[i]}", source=source, row=_row_label(i),
            column=col.name,
        )
    if col.minimum is not None:
        low = ~np.isnan(arr) & (arr < col.minimum)
        if low.any():
            i = int(np.flatnonzero(low)[0])
            what = "negative" if col.minimum == 0 else f"below {col.minimum:g}"
            raise DataError(
                f"value {arr[i]:g} is {what}", source=source, row=_row_label(i), column=col.name,
            )
    if col.kind == "int":
        big = ~np.isnan(arr) & (np.abs(arr) > 2**53)
        if big.any():
            i = int(np.flatnonzero(big)[0])
            raise DataError(
                f"value {arr[i]:g} is too large for a count", source=source, row=_row_label(i),
                column=col.name,
            )
        frac = ~np.isnan(arr) & (np.abs(arr - np.round(arr)) > 1e-9)
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise DataError(
                f"expected a whole number, got {arr[i]:g}", source=source, row=_row_label(i),
                column=col.name,
            )
        ints = pd.array(np.where(np.isnan(arr), 0, np.round(arr)).astype(np.int64), dtype="Int64")
        ints[np.isnan(arr)] = pd.NA
        return pd.Series(ints, index=s.index)
    return pd.Series(arr, index=s.index, dtype=float)


def _not_a_number(v: object) -> str:
    """Why a cell is not a number, or '' when it is one (or missing)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return f"expected a number, got the truth value {v!r}"
    if isinstance(v, (pd.Timestamp, pd.Timedelta, np.datetime64, np.timedelta64,
                      _dt.date, _dt.time, _dt.timedelta)):
        return f"expected a number, got the date/time {v!s}"
    if isinstance(v, (int, float, np.integer, np.floating)):
        try:
            float(v)
        except OverflowError:
            return f"value {str(v)[:12]}... ({len(str(v))} digits) is too large for a number"
        return ""
    if isinstance(v, (str, bytes)):
        text = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        if text.strip() == "":
            return ""
        try:
            float(text)
        except (ValueError, OverflowError):
            return f"expected a number, got {text[:40]!r}"
        return ""
    return f"expected a number, got {type(v).__name__} {str(v)[:40]}"


def _numbers(s: pd.Series, col: Column, source: str) -> np.ndarray:
    """A column's cells as floats (missing = NaN), refusing anything that is not a number.

    Truth values, dates and times (a Parquet timestamp column would otherwise turn into
    nanoseconds since 1970), nested values and integers beyond float range are errors naming
    the first such row, not numbers.
    """
    kind = s.dtype
    if (pd.api.types.is_datetime64_any_dtype(kind) or pd.api.types.is_timedelta64_dtype(kind)
            or isinstance(kind, pd.PeriodDtype)):
        i = int(np.flatnonzero(s.notna().to_numpy())[0]) if s.notna().any() else 0
        raise DataError(f"expected a number, got a date/time column ({kind})", source=source,
                        row=_row_label(i), column=col.name)
    if pd.api.types.is_bool_dtype(kind):
        i = int(np.flatnonzero(s.notna().to_numpy())[0]) if s.notna().any() else 0
        raise DataError(f"expected a number, got the truth value {s.iloc[i]!r}", source=source,
                        row=_row_label(i), column=col.name)
    if pd.api.types.is_numeric_dtype(kind):
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    out = np.full(len(s), np.nan)
    for i, v in enumerate(s.tolist()):
        why = _not_a_number(v)
        if why:
            raise DataError(why, source=source, row=_row_label(i), column=col.name)
        if isinstance(v, (str, bytes)):
            v = v.strip() if isinstance(v, str) else v.decode("utf-8", "replace").strip()
            if v == "":
                continue
        if v is None or v is pd.NA or v is pd.NaT:
            continue
        out[i] = float(v)
    return out


def validate_table(df: pd.DataFrame, schema: TableSchema, source: str = "<table>",
                   optional: Iterable[str] = ()) -> pd.DataFrame:
    """Check and convert ``df`` against ``schema``; return a clean copy with every column present.

    Raises :class:`DataError` naming ``source``, the 1-based row and the column at fault. Missing
    optional columns are added as all-missing; extra columns are kept unchanged. Columns named in
    ``optional`` are checked like the others but may be missing (e.g. ``loss`` of imported rows
    that get it later).
    """
    optional = set(optional)
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a table, got {type(df).__name__}", source=source)
    df = df.reset_index(drop=True).copy()
    df.columns = [str(c).strip() for c in df.columns]
    dup = df.columns[df.columns.duplicated()].tolist()
    if dup:
        raise DataError("duplicate column", source=source, column=dup[0])
    for c in df.columns:  # pandas renames a repeated header 'value' to 'value.1'
        m = _MANGLED.match(c)
        if m and m.group(1) in schema.names and m.group(1) in df.columns:
            raise DataError(f"duplicate column (a second {m.group(1)!r} column was read as "
                            f"{c!r}); keep one", source=source, column=m.group(1))
    for col in schema.columns:
        required = col.required and col.name not in optional
        if col.name not in df.columns:
            if required:
                raise DataError(
                    f"required column is missing (columns found: {', '.join(df.columns) or 'none'})",
                    source=source,
                    column=col.name,
                )
            df[col.name] = pd.NA
        df[col.name] = _coerce_column(df, col, source)
        if required:
            miss = df[col.name].isna().to_numpy()
            if miss.any():
                i = int(np.flatnonzero(miss)[0])
                raise DataError(
                    "required value is missing", source=source, row=_row_label(i), column=col.name
                )
    extra = [c for c in df.columns if c not in schema.names]
    return df[schema.names + extra]


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
    bad = ~setting.isin(SETTINGS)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"unknown setting {df['setting'].iloc[i]!r} (expected one of: {', '.join(SETTINGS)})",
            source=source, row=_row_label(i), column="setting",
        )
    df["setting"] = setting
    ft = (setting == "finetune").to_numpy()
    fs = ~ft
    miss = ft & df["n_train"].isna().to_numpy()
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise DataError(
            "finetuned row needs n_train (the number of finetuning examples)",
            source=source, row=_row_label(i), column="n_train",
        )
    miss = fs & df["shots"].isna().to_numpy()
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise DataError(
            "few-shot row needs shots (the number of examples in the prompt)",
            source=source, row=_row_label(i), column="shots",
        )
    df["metric"] = df["metric"].fillna("acc")
    no_method = ft & df["method"].isna().to_numpy()
    no_subset = ft & df["subset"].isna().to_numpy()
    df["method"] = df["method"].mask(pd.Series(ft, index=df.index) & df["method"].isna(), "full")
    df["subset"] = df["subset"].fillna(0)
    _refuse_repeats(df, source, no_method, no_subset)
    prop = df["metric"].str.lower().isin(PROPORTION_METRICS).to_numpy()
    v = df["value"].to_numpy(dtype=float)
    out = prop & ((v < 0) | (v > 1))
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise DataError(
            f"{df['metric'].iloc[i]} must lie in [0, 1], got {v[i]:g}",
            source=source, row=_row_label(i), column="value",
        )
    ch = df["chance"].to_numpy(dtype=float)
    out = prop & ~np.isnan(ch) & (ch > 1)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise DataError(
            f"chance level of a proportion must lie in [0, 1], got {ch[i]:g}",
            source=source, row=_row_label(i), column="chance",
        )
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
                    no_subset: np.ndarray) -> None:
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
    if no_method[i] or no_method[j]:
        hints.append("finetuned rows without a method are taken as 'full': if these are "
                     "different finetuning methods (e.g. LoRA and full), add a 'method' column")
    if no_subset[i] or no_subset[j]:
        hints.append("finetuned rows without a subset are taken as subset 0: if these are "
                     "different random finetuning subsets, add a 'subset' column")
    hint = "; ".join(hints) or "remove the repeated rows"
    raise DataError(f"{what} the measurement of row {_row_label(i)} (same model, checkpoint, "
                    f"loss, task, metric, setting, shots, n_train, subset and method); {hint}",
                    source=source, row=_row_label(j))


# ---------------------------------------------------------------------------------------------
# file I/O

_READERS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
            ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV, Parquet or JSONL file as a raw DataFrame (no validation)."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", source=str(path))
    if path.is_dir():
        raise DataError("is a folder, expected a table file (.csv, .parquet, .jsonl)",
                        source=str(path))
    fmt = _READERS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"unknown table format {path.suffix!r} (use .csv, .tsv, .parquet or .jsonl)",
            source=str(path),
        )
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype=str,
                               keep_default_na=False, na_values=["", "NA", "NaN", "nan", "null"])
        if fmt == "parquet":
            return pd.read_parquet(path)
        return _read_jsonl(path) if fmt == "jsonl" else _read_json(path)
    except DataError:
        raise
    except Exception as exc:  # a parser's message, reduced to one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot be read as {fmt}: {msg}", source=str(path)) from exc


class _DuplicateKey(Exception):
    """A JSON object with the same key twice (its name is the exception's message)."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _read_jsonl(path: Path) -> pd.DataFrame:
    import json

    records = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                rec = json.loads(line, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON: {exc.msg}", source=str(path),
                                row=len(records) + 1) from exc
            except _DuplicateKey as exc:  # json keeps the last of two equal keys, silently
                raise DataError("duplicate key in one row", source=str(path),
                                row=len(records) + 1, column=str(exc)) from exc
            except RecursionError as exc:
                raise DataError("invalid JSON: nested too deeply", source=str(path),
                                row=len(records) + 1) from exc
            if not isinstance(rec, dict):
                raise DataError("each line must be a JSON object", source=str(path),
                                row=len(records) + 1)
            records.append(rec)
    return pd.DataFrame.from_records(records)


def _read_json(path: Path) -> pd.DataFrame:
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "observations" in data:
        data = data["observations"]
    if not isinstance(data, list):
        raise DataError("expected a JSON list of row objects", source=str(path))
    return pd.DataFrame.from_records(data)


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
    fmt = _READERS.get(path.suffix.lower())
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


def write_csv_atomic(df: pd.DataFrame, path: str | Path, **to_csv_kwargs) -> Path:
    """Write ``df`` as CSV so that a reader never sees a half-written file.

    Results rewritten after every finished job (ablations, backtests) stay readable while a run
    is going on or after it is interrupted.
    """
    from emergence_law.atomic import atomic_write_text

    return atomic_write_text(path, df.to_csv(index=False, **to_csv_kwargs))


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
