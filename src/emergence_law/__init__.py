"""emergence-law: forecast when a language-model capability will emerge.

The top-level namespace re-exports the main entry points lazily, so that
``import emergence_law`` stays fast and never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it (imported on first access)
_EXPORTS = {
    "load_observations": "emergence_law.observations",
    "save_observations": "emergence_law.observations",
    "validate_observations": "emergence_law.observations",
    "select_task": "emergence_law.observations",
    "ResultStore": "emergence_law.store",
    "EmergenceLaw": "emergence_law.fitting",
    "EmergenceFit": "emergence_law.fitting",
    "ground_truth_emergence": "emergence_law.analysis.ground_truth",
    "simulate_observations": "emergence_law.simulate",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'emergence_law' has no attribute {name!r}")
