"""Values of lm-eval's JSON files, read leniently: a malformed entry is as good as absent.

Shared by the importer (:mod:`.lmeval_import`), the samples reader (:mod:`.lmeval_samples`), the
run identity (:mod:`.lmeval_names`) and the runner (:mod:`.lmeval_run`). Where a value cannot be
skipped (the file itself is not JSON, ``config`` is not an object), the error is one
:class:`DataError` line naming the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from emergence_law.errors import DataError


def _parse_json(text: str, path: Path, row: int | None = None) -> Any:
    """``json.loads`` whose every failure is a one-line :class:`DataError` naming the file."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = "" if row is not None else f" (line {exc.lineno})"
        raise DataError(f"invalid JSON: {exc.msg}{where}", source=str(path), row=row) from exc
    except RecursionError as exc:
        raise DataError("invalid JSON: nested too deeply to be an lm-eval file",
                        source=str(path), row=row) from exc


def _json_type(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a 400-digit integer
        return None
    return x if math.isfinite(x) else None


def _text(v: Any) -> str | None:
    """A JSON string as text; anything else (a list, an object, a number) is not a name."""
    return v if isinstance(v, str) and v.strip() else None


def _get(d: Any, *keys: Any) -> Any:
    """``d[k1][k2]...`` through JSON objects only; None where a level is missing or not an
    object (a malformed inner entry is then as good as absent, never a crash)."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _count(v: Any) -> int | float | None:
    """A count as an int; a number that is not whole stays a float, so that validating the
    rows names it (``shots`` 2.5 must not become 2); None when not a number."""
    x = _number(v)
    if x is None:
        return None
    return int(x) if x == int(x) else x


def _obj(data: dict, key: str, path: Path | str) -> dict:
    """``data[key]`` when it is a JSON object, ``{}`` when absent or null; any other type is a
    one-line :class:`DataError` (``"config": [1]`` is not a config)."""
    v = data.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise DataError(f"{key!r} must be a JSON object, got {_json_type(v)}", source=str(path))
    return v
