"""MCMC on a table whose MLE sits in a corner of the prior box (issue 15, defect 2).

A random batch of the lab's LoRA runs (bench_design_lab.py, cold start, 20 % budget, seed 0)
made emcee raise "At least one parameter value was NaN": the MLE of (E(D0), E(D_ref), alpha)
was at the bounds, the initial walkers were clipped onto identical points, and the snooker move
divides by the distance between two walkers. A fit must succeed or raise the project's error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from emergence_law.fitting import EmergenceLaw
from emergence_law.fitting.mcmc import initial_walkers
from emergence_law.lab import load_lab_observations
from emergence_law.lab.results import ground_truth, preemergence_rows
from emergence_law.lab.task import TASK_MC

# (model, checkpoint, n_train, subset) of the random batch that crashed, all LoRA r4
CRASHED_BATCH = [
    ("lab-d24", "step-33", 64, 1), ("lab-d24", "step-33", 256, 0), ("lab-d24", "step-33", 256, 1),
    ("lab-d24", "step-33", 1024, 0), ("lab-d24", "step-33", 4096, 0),
    ("lab-d24", "step-142", 256, 0), ("lab-d24", "step-142", 256, 1),
    ("lab-d32", "step-33", 256, 0), ("lab-d32", "step-33", 256, 1),
    ("lab-d32", "step-33", 1024, 0), ("lab-d32", "step-33", 1024, 1),
    ("lab-d32", "step-33", 4096, 0), ("lab-d32", "step-45", 1024, 0),
    ("lab-d32", "step-142", 256, 0), ("lab-d32", "step-142", 1024, 0),
    ("lab-d48", "step-25", 256, 1),
]


def crashed_table() -> pd.DataFrame:
    """The few-shot rows + the measured rows of the crashed batch (as the benchmark built it)."""
    obs = load_lab_observations()
    elbow = ground_truth(obs).elbow
    ft = obs[(obs["setting"] == "finetune") & (obs["metric"] == "acc")
             & (obs["task"] == TASK_MC) & (obs["method"] == "lora-r4")]
    data = preemergence_rows(obs, max(float(ft["loss"].min()), elbow + 1e-9))
    fs = data[data["setting"] == "fewshot"]
    f = data[(data["setting"] == "finetune") & (data["method"] == "lora-r4")]
    key = list(zip(f["model"].astype(str), f["checkpoint"].astype(str),
                   f["n_train"].astype(int), f["subset"].astype(float).fillna(0).astype(int), strict=True))
    keep = np.array([k in set(CRASHED_BATCH) for k in key])
    return pd.concat([fs, f[keep]], ignore_index=True)


def test_walkers_start_distinct_inside_the_box_when_the_mle_is_in_a_corner():
    bounds = np.array([[1.39, 2.81], [1.39, 2.81], [-2.0, 4.0]])
    theta = np.array([2.81, 1.39, 4.0])                       # every parameter at a bound
    cov = np.diag([1e-4, 1e-4, 1e-2])
    p0 = initial_walkers(theta, cov, bounds, 32, np.random.default_rng(0))
    assert np.isfinite(p0).all()
    assert ((p0 > bounds[:, 0]) & (p0 < bounds[:, 1])).all()
    assert len(np.unique(p0, axis=0)) == 32
    assert len(np.unique(p0[:, 0])) == 32                     # no coordinate shared either
    huge = initial_walkers(theta, np.diag([100.0, 100.0, 100.0]), bounds, 32,
                           np.random.default_rng(1))
    assert ((huge > bounds[:, 0]) & (huge < bounds[:, 1])).all()


def test_lab_lora_batch_that_crashed_emcee_now_fits():
    table = crashed_table()
    assert (table["setting"] == "finetune").sum() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = EmergenceLaw(form="log_power", posterior="mcmc", n_samples=2000,
                         seed=0).fit(table, TASK_MC, metric="acc", method="lora-r4")
    lo, hi = f.interval(0.9)
    assert np.isfinite([lo, hi, f.emergence_point_mle]).all() and lo < hi
