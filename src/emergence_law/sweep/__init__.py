"""Measuring sweeps: recipes expanded into jobs, run locally or on Ray, resumable.

* :mod:`~emergence_law.sweep.recipe`: the YAML recipe and its checks.
* :mod:`~emergence_law.sweep.plan`: recipe -> jobs (identity = hash of the definition).
* :mod:`~emergence_law.sweep.execute`: run one job, failures captured as data.
* :mod:`~emergence_law.sweep.executors`: in-process, process pool, Ray.
* :mod:`~emergence_law.sweep.runner`: the resumable loop over a plan and a store.
* :mod:`~emergence_law.sweep.export`: stored results -> validated observation table.
* :mod:`~emergence_law.sweep.synthetic`: a synthetic job for trying sweeps without GPUs.
"""

from __future__ import annotations

from emergence_law.sweep.export import ExportResult, export_observations
from emergence_law.sweep.plan import Job, SweepPlan, plan_recipe
from emergence_law.sweep.recipe import Recipe, RecipeError, load_recipe, parse_recipe
from emergence_law.sweep.runner import SweepReport, run_sweep

__all__ = [
    "ExportResult", "Job", "Recipe", "RecipeError", "SweepPlan", "SweepReport",
    "export_observations", "load_recipe", "parse_recipe", "plan_recipe", "run_sweep",
]
