"""Per-instance PassUntil budgets from a known (expected) pass rate.

Why: one budget for every instance either censors the hard instances (the lab's arithmetic
``small`` run: 36-38 of 40 at 2,000 samples) or wastes samples on nothing. When each
instance's rate ``p_i`` is known in advance (:mod:`.exact_rate`), sample-until-r needs
``K ~ r + NegBin(r, p_i)`` samples; a budget ``ceil(c r / p_i)`` censors an instance with
probability ``P(K > B) = P(Bin(B, p_i) < r)``. As ``p -> 0``, ``K p -> Gamma(r, 1)``, so
``c = Gamma(r).ppf(1 - alpha) / r`` makes that probability ``alpha`` in the limit; for larger
``p`` the binomial's lower tail is lighter and the probability is below ``alpha``
(:func:`censoring_probability` gives it exactly; ``tests/passuntil/test_rate_budget.py``
checks it over ``p`` in 1e-8..1).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from emergence_law.errors import SettingError


def budget_factor(r: int, alpha: float = 0.05) -> float:
    """``c`` with ``P(censored) <= alpha`` for a budget ``c r / p`` (the Gamma(r) limit)."""
    if r < 1:
        raise SettingError("r", f"must be at least 1, got {r}")
    if not 0 < alpha < 1:
        raise SettingError("alpha", f"must lie in (0, 1), got {alpha}")
    return float(stats.gamma.ppf(1 - alpha, r) / r)


def budgets_from_rates(rates, r: int, cap: int, alpha: float = 0.05) -> np.ndarray:
    """Per-instance budgets ``min(cap, ceil(c r / p_i))`` (``cap`` where ``p_i`` is 0)."""
    if cap < 1:
        raise SettingError("cap", f"must be at least 1, got {cap}")
    p = np.asarray(rates, dtype=float)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise SettingError("rates", "expected pass rates must lie in [0, 1]")
    c = budget_factor(r, alpha)
    with np.errstate(divide="ignore"):
        want = np.where(p > 0, np.ceil(c * r / np.where(p > 0, p, 1.0)), np.inf)
    return np.minimum(want, cap).astype(np.int64).clip(min=r)


def censoring_probability(rates, budgets, r: int) -> np.ndarray:
    """Exact ``P(fewer than r passes in the budget)`` per instance: ``Bin(B, p).cdf(r - 1)``."""
    return stats.binom.cdf(r - 1, np.asarray(budgets), np.asarray(rates, dtype=float))
