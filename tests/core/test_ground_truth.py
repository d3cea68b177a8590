"""Ground truth: the few-shot ReLU elbow from all checkpoints, with an honest interval."""

from __future__ import annotations

import numpy as np
import pytest

from emergence_law import ground_truth_emergence, simulate_observations
from emergence_law.errors import NotIdentifiableError


def test_recovers_the_true_elbow(sim):
    df, truth = sim
    gt = ground_truth_emergence(df, "simtask")
    assert abs(gt.elbow - truth["emergence_point"]) < 0.02
    assert gt.interval[0] <= gt.elbow <= gt.interval[1]
    assert gt.se > 0 and gt.params["A"] == pytest.approx(truth["A"], rel=0.25)
    d = gt.to_dict()
    assert d["elbow"] == gt.elbow and len(d["interval"]) == 2 and d["shots"] == [5]


def test_interval_coverage_over_simulated_tables():
    """The 95% profile-likelihood interval covers the true elbow on >= 25 of 30 tables
    (a correct 95% interval fails this with probability 0.016)."""
    hits = 0
    rng = np.random.default_rng(0)
    for seed in range(30):
        e = rng.uniform(1.8, 2.0)
        df, truth = simulate_observations(C=e - 0.0526 * np.log(5), seed=seed, n_subsets=1,
                                          data_levels=(30, 100), n_eval=1000)
        gt = ground_truth_emergence(df, "simtask")
        hits += gt.interval[0] <= truth["emergence_point"] <= gt.interval[1]
    assert hits >= 25, hits


def test_no_rise_is_not_identifiable():
    df, _ = simulate_observations(seed=0, loss_range=(2.4, 3.0))  # all before emergence
    with pytest.raises(NotIdentifiableError, match="never rise"):
        ground_truth_emergence(df, "simtask")


def test_rising_from_the_start_is_not_identifiable():
    df, _ = simulate_observations(seed=0, loss_range=(1.0, 1.7))  # all after emergence
    with pytest.raises(NotIdentifiableError, match="flat"):
        ground_truth_emergence(df, "simtask")
