"""Result objects as JSON files: one reader that names the file and line at fault, one writer.

``EmergenceFit``, ``Comparison`` and ``SizePosterior`` save themselves the same way and fits are
read back by ``fit``'s result loader and by ``to-params``; a bad file is a one-line
:class:`~emergence_law.errors.DataError`, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emergence_law.errors import DataError


def read_json(path: str | Path) -> Any:
    """The parsed content of ``path``; a missing file or invalid JSON is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", source=str(path))
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", source=str(path), row=exc.lineno) from exc


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (its folder created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")
    return path
