"""Per-instance estimators and exact intervals, checked against exact sampling distributions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from emergence_law.errors import OptionError
from emergence_law.passuntil.estimate import (
    estimate_instance,
    exact_interval,
    expected_samples,
    log_likelihood,
    point_estimate,
    samples_for_resolution,
    task_estimate,
)
from emergence_law.passuntil.simulate import simulate_passuntil


def truncated_design(p: float, r: int, budget: int):
    """Every outcome of sample-until-r-or-budget with its exact probability."""
    ks = np.arange(r, budget + 1)
    prob_stop = stats.nbinom.pmf(ks - r, r, p)  # r-th pass exactly at sample k
    cens_x = np.arange(r)
    prob_cens = stats.binom.pmf(cens_x, budget, p)  # fewer than r passes in the budget
    trials = np.concatenate([ks, np.full(r, budget)])
    passes = np.concatenate([np.full(len(ks), r), cens_x])
    censored = np.concatenate([np.zeros(len(ks), bool), np.ones(r, bool)])
    prob = np.concatenate([prob_stop, prob_cens])
    assert prob.sum() == pytest.approx(1.0, abs=1e-9)
    return trials, passes, censored, prob


@pytest.mark.parametrize("p", [1e-2, 1e-3, 1e-4, 1e-5])
@pytest.mark.parametrize("r", [2, 3])
def test_unbiased_estimator_is_exactly_unbiased_under_the_truncated_design(p, r):
    budget = 100_000
    k, x, c, prob = truncated_design(p, r, budget)
    mean_unbiased = np.sum(prob * point_estimate(k, x, c, "unbiased"))
    mean_paper = np.sum(prob * point_estimate(k, x, c, "paper"))
    assert mean_unbiased == pytest.approx(p, rel=1e-6)
    # the paper's r/K is biased upward where the budget does not bind (about r/(r-1) x)
    if r / p < budget / 10:
        assert mean_paper / p > 1.3
    if p <= 1e-3 and r / p < budget / 10:
        assert mean_paper / p == pytest.approx(r / (r - 1), rel=0.02)


@pytest.mark.parametrize("p", [1e-2, 1e-3, 1e-4, 1e-5])
@pytest.mark.parametrize("r", [1, 2])
def test_exact_intervals_cover_at_least_nominally(p, r):
    budget = 100_000
    k, x, c, prob = truncated_design(p, r, budget)
    lo, hi = exact_interval(k, x, c, 0.95)
    coverage = np.sum(prob * ((lo <= p) & (p <= hi)))
    assert coverage >= 0.95 - 1e-9
    assert coverage < 0.995  # exact, not absurdly wide


def test_simulated_outcomes_match_the_exact_design():
    rng = np.random.default_rng(1)
    p, r, budget = 3e-4, 2, 5000
    k, x, c = simulate_passuntil(np.full(200_000, p), r, budget, rng)
    kk, xx, cc, prob = truncated_design(p, r, budget)
    assert c.mean() == pytest.approx(prob[cc].sum(), abs=0.004)
    assert point_estimate(k, x, c, "unbiased").mean() == pytest.approx(p, rel=0.02)


def test_no_pass_in_the_budget_gives_the_rule_of_three():
    lo, hi = exact_interval(100_000, 0, True, 0.90)  # two-sided 90% = one-sided 95% upper
    assert lo == 0
    assert hi * 100_000 == pytest.approx(3.0, rel=0.01)
    est = estimate_instance(100_000, 0, True)
    assert est.estimate == 0 and est.censored and est.upper > 0


def test_one_likelihood_for_all_designs():
    # the likelihood takes only counts (no design argument) and is maximised at R/K
    grid = np.geomspace(1e-5, 1e-2, 2001)
    assert grid[np.argmax(log_likelihood(grid, 5000, 2))] == pytest.approx(2 / 5000, rel=0.01)


def test_task_estimate_interval_covers_the_mean_of_instances():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(60):
        p = 10 ** rng.uniform(-4, -2, 30)
        k, x, c = simulate_passuntil(p, 2, 100_000, rng)
        est = task_estimate(k, x, c, level=0.9, n_resamples=500, seed=1)
        hits += est.lower <= p.mean() <= est.upper
    assert hits / 60 >= 0.75  # bootstrap over 30 skewed instances: near, not exactly, nominal


def test_expected_samples_and_resolution():
    assert expected_samples(1e-3, 2) == pytest.approx(2000)
    assert expected_samples(1e-3, 2, budget=1000) < 1000
    assert expected_samples(0.0, 2, budget=500) == 500
    plan = samples_for_resolution([1e-3, 1e-4], rel_error=0.5)
    assert plan["r"] == 6 and plan["total"] == pytest.approx(6e3 + 6e4)


def test_bad_options_are_reported():
    with pytest.raises(OptionError, match="estimator"):
        point_estimate(10, 2, False, "nope")
    with pytest.raises(OptionError, match="level"):
        exact_interval(10, 2, False, 1.5)


def test_population_estimates_are_censoring_aware_and_shrink_per_instance_error():
    from emergence_law.passuntil.shrinkage import population_estimates

    rng = np.random.default_rng(1)
    mse_eb, mse_unb, mse_mle = [], [], []
    for _ in range(8):
        p = np.exp(-np.exp(rng.normal(2.3, 0.4, 40)))  # ~60% censored at budget 20,000
        k, x, c = simulate_passuntil(p, 2, 20_000, rng)
        est = population_estimates(k, x, c)
        zero = c & (x == 0)
        lo, hi = exact_interval(k, x, c, 0.95)
        assert zero.any() and (est.per_instance[zero] > 0).all()  # censored, not 0
        assert (est.per_instance[zero] < hi[zero]).all()
        mse_eb.append(np.mean((est.per_instance - p) ** 2))
        mse_unb.append(np.mean((point_estimate(k, x, c, "unbiased") - p) ** 2))
        mse_mle.append(np.mean((point_estimate(k, x, c, "mle") - p) ** 2))
    assert np.mean(mse_eb) < np.mean(mse_unb) < np.mean(mse_mle)
