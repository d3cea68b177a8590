"""The retrospective design on the lab's shipped measurements (benchmarks/bench_design_lab.py):
the batch only holds runs the lab measured, its rows are theirs, and the budget holds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from emergence_law.design.retrospective import (
    RUN_KEY,
    measured_runs,
    random_batch,
    replay_design,
    rows_of,
    run_cost,
)
from emergence_law.lab import load_lab_observations
from emergence_law.lab.task import TASK_MC

FAST = {"n_particles": 500, "n_tables": 3, "n_boot": 10, "max_evals": 2}


@pytest.fixture(scope="module")
def lab():
    obs = load_lab_observations()
    table = obs[(obs["task"] == TASK_MC)
                & ((obs["setting"] == "fewshot") | (obs["method"] == "full"))]
    return table


def _key_set(df: pd.DataFrame) -> set[tuple]:
    k = df[RUN_KEY].astype({"n_train": float, "subset": float}).astype(
        {"n_train": int, "subset": int})
    return set(map(tuple, k.astype(str).to_numpy().tolist()))


@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_selection_only_measured_runs_within_budget(lab, fraction):
    runs = measured_runs(lab, "acc")
    cost = run_cost(runs)
    assert len(runs) == 6 * 4 * 2 and cost.nunique() > 1     # params-based cost, unequal
    budget = fraction * float(cost.sum())
    start = lab[lab["setting"] == "fewshot"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = replay_design(start, lab, TASK_MC, budget, metric="acc", method="full", seed=0,
                          **FAST)
    assert len(r.runs) >= 1
    assert r.cost <= budget * (1 + 1e-9)
    assert _key_set(r.runs) <= _key_set(runs)                  # only runs the lab measured
    assert not r.runs.duplicated(["model", "checkpoint", "n_train", "subset"]).any()
    new = r.table[r.table["setting"] == "finetune"]
    assert _key_set(new) == _key_set(r.runs)                   # exactly their rows
    assert len(new) == len(rows_of(lab, r.runs))
    merged = new.merge(lab, on=list(new.columns), how="left", indicator=True)
    assert (merged["_merge"] == "both").all()                 # values as measured, not made up
    # the random baseline of equal cost respects the same budget
    pick = random_batch(runs, cost, r.cost, np.random.default_rng(0))
    assert float(cost.loc[pick.index].sum()) <= r.cost * (1 + 1e-9)
