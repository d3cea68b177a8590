"""What was run, with which settings and versions: written beside every result folder's outputs.

The HTML report reads these files so a reader can reproduce any figure.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from emergence_law.jsonfile import json_default, write_json

_PACKAGES = ("emergence-law", "numpy", "scipy", "pandas", "emcee", "arviz", "matplotlib",
             "torch", "transformers", "peft", "lm-eval", "ray")


def versions() -> dict[str, str]:
    """Installed versions of the packages that can change a result (absent ones omitted),
    and, when this process has loaded torch, the CPU kernels it dispatches to
    (``torch-cpu-kernels``, e.g. ``AVX2`` or ``AVX512``): training on the CPU gives
    bit-different weights under different kernels (docs/lab.md, "The CPU's kernels")."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if "torch" in sys.modules:  # never import torch just to say which kernels it would use
        out["torch-cpu-kernels"] = str(sys.modules["torch"].backends.cpu.get_cpu_capability())
    return out


def write_provenance(out_dir: str | Path, command: str, options: Mapping[str, Any]) -> Path:
    """Write ``out_dir/run_<command>.json``: the command, its options, versions, time, argv."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    safe = command.replace(" ", "_").replace("-", "_")
    path = out_dir / f"run_{safe}.json"
    record = {
        "command": command,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()},
        "argv": sys.argv,
        "versions": versions(),
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return write_json(path, record, indent=2, default=_lenient)


def _lenient(o: Any) -> Any:
    """Provenance records what was given, whatever its type: plain JSON where it can be."""
    try:
        return json_default(o)
    except TypeError:
        return str(o)
