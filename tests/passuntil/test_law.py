"""Task scaling law fits on simulated tasks with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emergence_law.errors import DataError, NotIdentifiableError
from emergence_law.passuntil.counts import load_counts
from emergence_law.passuntil.law import TaskScalingLaw
from emergence_law.passuntil.simulate import simulate_task

TARGET = 3.2e9
HARD = dict(mean_eta_small=2.4, sd_alpha=0.3, budget=20_000)  # many censored small-model cells


@pytest.mark.parametrize("level", ["dataset", "instance", "pooled"])
def test_recovers_known_law_on_identical_instances(level):
    sim = simulate_task(n_instances=40, sd_alpha=1e-3, sd_eta_small=1e-3, budget=200_000,
                        r=4, seed=5)
    law = TaskScalingLaw(level=level, n_draws=200, confidence=0.98).fit(sim.counts)
    assert law.alpha_ == pytest.approx(sim.alpha.mean(), abs=0.06)
    assert np.log(law.c_) == pytest.approx(sim.log_c.mean(), abs=1.3)  # log c ~ 12: ~10%
    pred = law.predict(TARGET)
    truth = sim.true_pass_rate(TARGET)
    if level != "instance":  # the independent fit is the unstable baseline: no coverage claim
        assert pred.interval[0] <= truth <= pred.interval[1]
    assert pred.predicted_pass_rate == pytest.approx(truth, rel=0.15)


def test_pooled_beats_dataset_and_independent_fits_on_heterogeneous_instances():
    """Small version of benchmarks/bench_passuntil_estimators.py (which runs 100 tasks)."""
    err = {lvl: [] for lvl in ("dataset", "instance", "pooled")}
    covered = 0
    n = 6
    for seed in range(n):
        sim = simulate_task(n_instances=40, seed=100 + seed, **HARD)
        truth = sim.true_pass_rate(TARGET)
        for lvl in err:
            pred = TaskScalingLaw(level=lvl, n_draws=150).fit(sim.counts).predict(TARGET)
            err[lvl].append(pred.predicted_pass_rate - truth)
            if lvl == "pooled":
                covered += pred.interval[0] <= truth <= pred.interval[1]
    mae = {k: float(np.mean(np.abs(v))) for k, v in err.items()}
    assert mae["pooled"] < mae["dataset"]
    assert mae["pooled"] < 0.5 * mae["instance"]
    assert np.mean(err["instance"]) > 0.03  # independent fits over-predict
    assert covered >= n - 2  # 90% intervals; P(covered <= n-3 | 0.9) < 2%


def test_zero_and_censored_cells_are_kept():
    sim = simulate_task(n_instances=20, seed=2, **HARD)
    counts = sim.counts
    assert (counts["passes"] == 0).any()
    law = TaskScalingLaw(level="pooled", n_draws=50).fit(counts)
    assert len(law.instance_params_) == 20  # no instance dropped
    assert law.grid_.censored.sum() == counts["censored"].sum()


def test_dataset_level_needs_two_positive_sizes():
    sim = simulate_task(n_instances=5, params=(1e8, 2e8), mean_eta_small=4.0, budget=100, seed=0)
    assert (sim.counts["passes"] == 0).all()
    with pytest.raises(NotIdentifiableError, match="no instance passed at any model size"):
        TaskScalingLaw(level="dataset").fit(sim.counts)
    # one size at 0, one in between, one at 1: the dataset level has a single usable mean
    rows = [{"model": f"m{j}", "params": n, "task": "t", "instance": f"i{i}", "trials": 50,
             "passes": [0, i, 50][j]} for j, n in enumerate((1e8, 2e8, 4e8)) for i in range(5)]
    with pytest.raises(NotIdentifiableError, match="at least two models with a task pass rate"):
        TaskScalingLaw(level="dataset").fit(pd.DataFrame(rows))


def test_counts_validation_names_row_and_column(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("model,params,task,instance,trials,passes\nm,1e8,t,a,10,2\nm,1e8,t,b,10,11\n")
    with pytest.raises(DataError, match=r"c.csv, row 2, column 'passes': passes \(11\) exceed"):
        load_counts(f)
    f.write_text("model,params,task,instance,trials\nm,1e8,t,a,10\n")
    with pytest.raises(DataError, match="column 'passes': required column is missing"):
        load_counts(f)
    f.write_text("model,params,task,instance,trials,passes,censored\nm,1e8,t,a,10,0,false\n")
    with pytest.raises(DataError, match="row 1, column 'censored'"):
        load_counts(f)
    f.write_text("model,params,task,instance,trials,passes,r\nm,1e8,t,a,10,0,2\nm,1e8,t,b,9,2,2\n")
    c = load_counts(f)
    assert c["censored"].tolist() == [True, False]
    # without r or censored the table is a fixed budget: every row stopped at its budget
    f.write_text("model,params,task,instance,trials,passes\nm,1e8,t,a,10,0\nm,1e8,t,b,9,2\n")
    assert load_counts(f)["censored"].tolist() == [True, True]
    # bad settings of the law: tests/passuntil/test_law_conventions.py


def test_exact_rates_read_back_as_numbers(tmp_path):
    """The lab's counts carry each instance's exact pass rate (``expected_rate``); read back
    from CSV it is a number, so the re-analysis can average it, and a bad cell is named."""
    f = tmp_path / "c.csv"
    f.write_text("model,params,task,instance,trials,passes,expected_rate\n"
                 "m,1e8,t,a,10,2,0.25\nm,1e8,t,b,10,1,1.5e-3\n")
    c = load_counts(f)
    assert c["expected_rate"].mean() == pytest.approx(0.12575)
    f.write_text("model,params,task,instance,trials,passes,expected_rate\nm,1e8,t,a,10,2,high\n")
    with pytest.raises(DataError, match="row 1, column 'expected_rate'"):
        load_counts(f)
