"""Result objects as JSON files: one reader that names the file and line at fault, one writer.

``EmergenceFit``, ``Comparison`` and ``SizePosterior`` save themselves the same way and fits are
read back by ``fit``'s result loader and by ``to-params``; a bad file is a one-line
:class:`~emergence_law.errors.DataError`, never a traceback. The writer goes through
:mod:`emergence_law.atomic`, so a reader (the report, a resumed run) never sees half a file.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from emergence_law.atomic import atomic_write_text
from emergence_law.errors import DataError


def json_int(text: str) -> int:
    """A JSON integer, refused when beyond float range (``float()`` of it would raise later,
    far from the file, e.g. when a report formats a 400-digit percentile)."""
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise ValueError(f"a number of {len(text.lstrip('-'))} digits is too large") from None
    return value


def loads(text: str, source: str) -> Any:
    """``json.loads`` whose every failure is a one-line DataError naming ``source``: invalid
    JSON, integers beyond float range, nesting too deep for the parser."""
    try:
        return json.loads(text, parse_int=json_int)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", source=source, row=exc.lineno) from exc
    except ValueError as exc:
        raise DataError(f"invalid JSON: {exc}", source=source) from exc
    except RecursionError as exc:
        raise DataError("invalid JSON: nested too deeply", source=source) from exc


def read_utf8(path: str | Path, *, missing: str = "file not found",
              not_utf8: str = "not UTF-8 text") -> str:
    """The text of ``path``; a missing file or one that is not UTF-8 is a DataError naming it
    (with the reason given, e.g. ``missing="corpus file not found"``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(missing, source=str(path))
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(not_utf8, source=str(path)) from exc


def read_json(path: str | Path) -> Any:
    """The parsed content of ``path``; a missing file or invalid JSON is a DataError."""
    return loads(read_utf8(path), str(Path(path)))


def jsonl_records(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` of each non-blank line of JSON Lines ``text``; a line
    that is not JSON is a DataError naming ``source`` and the line. Parsed one line at a time,
    so a caller that stops early never reads the rest."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", source=source, row=lineno) from exc


def json_default(o: Any) -> Any:
    """``json.dumps``'s ``default``: numpy scalars and arrays, paths and enums as plain JSON;
    anything else is a ``TypeError`` (a value that cannot be stored is a bug to see)."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a core dependency
        np = None
    if np is not None:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, enum.Enum):
        return o.value
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: str | Path, obj: Any, *, indent: int = 1,
               default: Callable[[Any], Any] | None = json_default) -> Path:
    """Write ``obj`` as indented JSON, atomically (its folder created); return the path."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=default) + "\n")
