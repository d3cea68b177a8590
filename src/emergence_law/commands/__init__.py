"""CLI command groups, one module per area, each with a ``register(app)`` function.

| module | commands |
|---|---|
| ``core`` | ``fit``, ``demo`` |
| ``analysis`` | ``ablate``, ``backtest``, ``compare``, ``to-params`` |
| ``ground_truth`` | ``ground-truth`` |
| ``fewshot`` | ``import-olmo``, ``ladder`` |
| ``passuntil`` | ``passuntil run|fit|passk|curvature`` |
| ``measure`` | ``measure loss|fewshot|finetune``, ``import-lmeval`` |
| ``sweep`` | ``sweep plan|run|status|export`` |
| ``lab`` | ``lab run`` |
| ``report`` | ``report`` |
| ``design`` | ``design``, ``design-passuntil`` |
"""

from __future__ import annotations

import importlib

import typer

AREAS = ("core", "analysis", "ground_truth", "fewshot", "passuntil", "measure", "sweep", "lab", "report", "design")


def register_all(app: typer.Typer) -> None:
    for area in AREAS:
        module = importlib.import_module(f"emergence_law.commands.{area}")
        module.register(app)
