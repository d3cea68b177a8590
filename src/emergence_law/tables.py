"""Validated tables: typed columns checked cell by cell, and table files read as one-line errors.

The observation table (:mod:`emergence_law.observations`), the candidate tables of ``design``,
the scaling-law inputs and PassUntil's counts all declare a :class:`TableSchema` and go through
:func:`validate_table`, so a bad cell anywhere is refused the same way: one
:class:`~emergence_law.errors.DataError` naming the file, the 1-based row and the column.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from emergence_law.errors import DataError

Kind = Literal["float", "int", "str", "bool"]


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


_MANGLED = re.compile(r"^(.+)\.(\d+)$")


def row_label(index: int) -> int:
    """1-based data-row number as users count rows in a file (header excluded)."""
    return int(index) + 1


def refuse_first(bad: np.ndarray, why: str | Callable[[int], str], *, source: str,
                 column: str | None) -> None:
    """Raise the one-line error for the first row flagged in ``bad`` (none flagged: return).

    ``why`` is the reason, or a function of the row's 0-based index that words it."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(why(i) if callable(why) else why, source=source, row=row_label(i),
                        column=column)


def _coerce_column(df: pd.DataFrame, col: Column, source: str) -> pd.Series:
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
                    f"expected true/false, got {v!r}", source=source, row=row_label(i),
                    column=col.name,
                )
        return pd.Series(vals, index=s.index, dtype="boolean")
    arr = _numbers(s, col, source)
    where = {"source": source, "column": col.name}
    refuse_first(np.isinf(arr), lambda i: f"value must be finite, got {arr[i]}", **where)
    if col.minimum is not None:
        what = "negative" if col.minimum == 0 else f"below {col.minimum:g}"
        refuse_first(~np.isnan(arr) & (arr < col.minimum),
                     lambda i: f"value {arr[i]:g} is {what}", **where)
    if col.kind == "int":
        refuse_first(~np.isnan(arr) & (np.abs(arr) > 2**53),
                     lambda i: f"value {arr[i]:g} is too large for a count", **where)
        refuse_first(~np.isnan(arr) & (np.abs(arr - np.round(arr)) > 1e-9),
                     lambda i: f"expected a whole number, got {arr[i]:g}", **where)
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
                        row=row_label(i), column=col.name)
    if pd.api.types.is_bool_dtype(kind):
        i = int(np.flatnonzero(s.notna().to_numpy())[0]) if s.notna().any() else 0
        raise DataError(f"expected a number, got the truth value {s.iloc[i]!r}", source=source,
                        row=row_label(i), column=col.name)
    if pd.api.types.is_numeric_dtype(kind):
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    out = np.full(len(s), np.nan)
    for i, v in enumerate(s.tolist()):
        why = _not_a_number(v)
        if why:
            raise DataError(why, source=source, row=row_label(i), column=col.name)
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
            refuse_first(df[col.name].isna().to_numpy(), "required value is missing",
                         source=source, column=col.name)
    extra = [c for c in df.columns if c not in schema.names]
    return df[schema.names + extra]



# ---------------------------------------------------------------------------------------------
# file I/O

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
            ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV, Parquet or JSONL file as a raw DataFrame (no validation)."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", source=str(path))
    if path.is_dir():
        raise DataError("is a folder, expected a table file (.csv, .parquet, .jsonl)",
                        source=str(path))
    fmt = FORMATS.get(path.suffix.lower())
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



def write_csv_atomic(df: pd.DataFrame, path: str | Path, **to_csv_kwargs) -> Path:
    """Write ``df`` as CSV so that a reader never sees a half-written file.

    Results rewritten after every finished job (ablations, backtests) stay readable while a run
    is going on or after it is interrupted.
    """
    from emergence_law.atomic import atomic_write_text

    return atomic_write_text(path, df.to_csv(index=False, **to_csv_kwargs))
