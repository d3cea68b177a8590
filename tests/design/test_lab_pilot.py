"""After a pilot on the lab's measured runs, the design must still recommend a batch (issue 15).

bench_design_lab.py measured it: after a 6-run pilot (subset 0 of D = 64, 256, 1024 on the most
and the least capable checkpoint) the design recommended 1 run (full) or none (LoRA r4) at every
budget, because it held each batch to the width the pilot's fit reports, and that fit's MLE of
E(D0) sits at a bound or at the data's edge (LoRA: 2.81 with width 0.24, the truth 1.877 outside).
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from emergence_law.design.particles import current_fit_bar
from emergence_law.design.planner import _d0
from emergence_law.design.retrospective import measured_runs, replay_design, rows_of, run_cost
from emergence_law.lab import load_lab_observations
from emergence_law.lab.results import ground_truth, preemergence_rows
from emergence_law.lab.task import TASK_MC

PILOT_D = (64, 256, 1024)
DESIGN = {"n_particles": 1000, "n_tables": 6, "n_boot": 20, "max_evals": 4}


def pilot(method: str) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """(the lab's table for ``method``, the pilot table, the full grid's cost), as the
    benchmark builds them."""
    obs = load_lab_observations()
    elbow = ground_truth(obs).elbow
    ft = obs[(obs["setting"] == "finetune") & (obs["metric"] == "acc")
             & (obs["task"] == TASK_MC) & (obs["method"] == method)]
    data = preemergence_rows(obs, max(float(ft["loss"].min()), elbow + 1e-9))
    data = data[(data["setting"] == "fewshot") | (data["method"] == method)]
    runs = measured_runs(data, "acc")
    ck = runs.drop_duplicates(["model", "checkpoint"]).sort_values("loss").iloc[[0, -1]]
    pick = runs[(runs["subset"] == 0) & runs["n_train"].isin(PILOT_D)].merge(
        ck[["model", "checkpoint"]], on=["model", "checkpoint"])
    assert len(pick) == 6
    start = pd.concat([data[data["setting"] == "fewshot"], rows_of(data, pick)],
                      ignore_index=True)
    return data, start, float(run_cost(runs).sum())


@pytest.mark.parametrize("method", ["full", "lora-r4"])
def test_untrusted_pilot_fit_is_no_bar(method):
    data, start, _ = pilot(method)
    width, why = current_fit_bar(start, TASK_MC, _d0(start), n=300)
    assert width is None and why                       # MLE at a bound / the data's edge


@pytest.mark.parametrize("method", ["full", "lora-r4"])
def test_pilot_batch_is_not_cut_to_one_run(method):
    data, start, full_cost = pilot(method)
    budget = 0.35 * full_cost - float(run_cost(measured_runs(start, "acc")).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = replay_design(start, data, TASK_MC, budget, metric="acc", method=method, seed=0,
                          **DESIGN)
    assert r.design.current_source == "posterior"
    assert any("no fair bar" in n for n in r.design.notes)
    assert len(r.runs) > 1                               # was 1 (full) and 0 (LoRA)
    assert r.cost <= budget + 1e-12


@pytest.mark.slow
def test_full_pilot_at_20_percent_uses_the_budget():
    """With the benchmark's design settings the lab's full-finetuning pilot at 20 % of the
    grid's cost was cut to one run (its simulated refits were bounds, credited with their
    narrow bootstrap widths); bounds now count as no forecast (issue 15)."""
    data, start, full_cost = pilot("full")
    budget = 0.2 * full_cost - float(run_cost(measured_runs(start, "acc")).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = replay_design(start, data, TASK_MC, budget, metric="acc", method="full", seed=0,
                          n_tables=10, n_boot=30, max_evals=6)
    assert len(r.runs) > 1                               # was 1
    assert r.cost <= budget + 1e-12
    assert r.design.runs["forecast"].between(0, 1).all()
