"""PassUntil (Hu et al. 2023): infinite-resolution pass rates and the task scaling law.

Modules: :mod:`.estimate` (per-instance and task estimates, exact intervals), :mod:`.counts`
(the per-instance table), :mod:`.sample` (the sampling engine), :mod:`.generators`,
:mod:`.checkers`, :mod:`.sandbox`, :mod:`.tasks` (task files), :mod:`.shrinkage` (a
censoring-aware population estimate at one size), :mod:`.likelihood`, :mod:`.law`,
:mod:`.pooled` and :mod:`.scatter` (task scaling law fits), :mod:`.report` (a fit's files),
:mod:`.curvature` (accelerated emergence), :mod:`.simulate`, :mod:`.plots`. Nothing here
imports torch until a Hugging Face generator is built.
"""

from emergence_law.passuntil.estimate import (
    estimate_instance,
    estimate_instances,
    exact_interval,
    expected_samples,
    log_likelihood,
    point_estimate,
    samples_for_resolution,
    task_estimate,
)
from emergence_law.passuntil.law import LawPrediction, TaskScalingLaw, fit_task_law
from emergence_law.passuntil.sample import Instance, passuntil_sample

__all__ = [
    "Instance",
    "LawPrediction",
    "TaskScalingLaw",
    "estimate_instance",
    "estimate_instances",
    "exact_interval",
    "expected_samples",
    "fit_task_law",
    "log_likelihood",
    "passuntil_sample",
    "point_estimate",
    "samples_for_resolution",
    "task_estimate",
]
