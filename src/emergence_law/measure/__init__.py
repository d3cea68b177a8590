"""Measuring checkpoints: pretraining loss, few-shot and finetuned accuracy, lm-eval interop.

Turns models into rows of the observation table. Importing this package never imports torch:
the lm-eval *import* (:mod:`.lmeval`) and the task format (:mod:`.tasks`) work on the core
install; measuring a model (:mod:`.loss`, :mod:`.fewshot`, :mod:`.finetune`, running lm-eval)
needs the ``measure`` extra and imports torch inside its functions.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "import_lmeval": "emergence_law.measure.lmeval_import",
    "read_lmeval_samples": "emergence_law.measure.lmeval_import",
    "run_lmeval": "emergence_law.measure.lmeval_run",
    "load_task": "emergence_law.measure.tasks",
    "Task": "emergence_law.measure.tasks",
    "load_model": "emergence_law.measure.models",
    "measure_loss": "emergence_law.measure.loss",
    "evaluate_fewshot": "emergence_law.measure.fewshot",
    "finetune_and_evaluate": "emergence_law.measure.finetune",
    "run_job": "emergence_law.measure.jobs",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'emergence_law.measure' has no attribute {name!r}")
