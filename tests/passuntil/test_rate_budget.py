"""Budgets from known pass rates (passuntil/rate_budget.py): censored with probability at most
alpha for every rate, checked exactly over 1e-8..1 and by simulated sample-until-r runs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from emergence_law.errors import SettingError
from emergence_law.passuntil.rate_budget import (
    budget_factor,
    budgets_from_rates,
    censoring_probability,
)


@pytest.mark.parametrize("r", [1, 2, 3, 5])
def test_censoring_probability_is_at_most_alpha_for_every_rate(r):
    p = np.geomspace(1e-8, 1, 4001)
    b = budgets_from_rates(p, r, cap=10**13)
    cp = censoring_probability(p, b, r)
    assert cp.max() <= 0.05 + 1e-8  # binom.cdf's rounding at B ~ 1e9
    assert cp.max() > 0.04  # and not wastefully below it: the Gamma limit is tight
    # the exact negative-binomial tail agrees with the binomial form
    np.testing.assert_allclose(cp[p > 1e-6], stats.nbinom.sf(b - r, r, p)[p > 1e-6],
                               rtol=1e-9, atol=1e-12)


def test_factor_at_r2_is_the_gamma_quantile():
    assert budget_factor(2) == pytest.approx(stats.gamma.ppf(0.95, 2) / 2)
    assert budget_factor(2) == pytest.approx(2.372, abs=1e-3)


def test_simulated_sample_until_r_is_censored_at_most_alpha():
    rng = np.random.default_rng(0)
    p = 10 ** rng.uniform(-5, -0.3, 20000)
    b = budgets_from_rates(p, 2, cap=10**9)
    k = 2 + rng.negative_binomial(2, p)  # samples to the 2nd pass
    cens = int((k > b).sum())
    assert stats.binomtest(cens, len(p), 0.05, alternative="greater").pvalue > 0.01
    assert cens / len(p) > 0.04


def test_cap_and_zero_rates():
    b = budgets_from_rates([0.0, 1e-9, 0.5, 1.0], 2, cap=1000)
    assert b.tolist() == [1000, 1000, 10, 5]
    with pytest.raises(SettingError, match="rates"):
        budgets_from_rates([1.5], 2, cap=10)
    with pytest.raises(SettingError, match="cap"):
        budgets_from_rates([0.5], 2, cap=0)
    with pytest.raises(SettingError, match="r"):
        budget_factor(0)
