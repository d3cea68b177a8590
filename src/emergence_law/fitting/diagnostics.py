"""Convergence diagnostics for posterior draws: rank-normalised split R-hat and effective size.

R-hat follows Vehtari et al. (2021) (the definition ArviZ uses; tests check we agree with
``arviz.rhat``). ArviZ itself is not imported here because importing it costs seconds, longer
than a whole fit. ESS uses emcee's integrated autocorrelation time averaged over walkers
(Goodman & Weare's recommendation for ensemble samplers).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

RHAT_MAX = 1.01
ESS_MIN = 400


class ConvergenceWarning(UserWarning):
    """The sampler's draws may not represent the posterior (high R-hat or low ESS)."""


def _split(chains: np.ndarray) -> np.ndarray:
    """(steps, chains) -> (steps // 2, 2 * chains): each chain cut in two halves."""
    n = chains.shape[0] // 2
    return np.concatenate([chains[:n], chains[chains.shape[0] - n:]], axis=1)


def _rhat_basic(chains: np.ndarray) -> float:
    n, m = chains.shape
    means = chains.mean(axis=0)
    W = chains.var(axis=0, ddof=1).mean()
    B = n * means.var(ddof=1)
    if W <= 0:
        return float("nan")
    var_plus = (n - 1) / n * W + B / n
    return float(np.sqrt(var_plus / W))


def _rank_normalise(x: np.ndarray) -> np.ndarray:
    r = rankdata(x, method="average").reshape(x.shape)
    return ndtri((r - 3.0 / 8.0) / (x.size + 1.0 / 4.0))


def split_rhat(chains: np.ndarray) -> float:
    """Rank-normalised split R-hat of ``chains`` shaped (steps, chains); max of bulk and tail."""
    chains = np.asarray(chains, dtype=float)
    if chains.ndim == 1:
        chains = chains[:, None]
    s = _split(chains)
    bulk = _rhat_basic(_rank_normalise(s))
    folded = np.abs(s - np.median(s))
    tail = _rhat_basic(_rank_normalise(folded))
    return float(max(bulk, tail))


def effective_sample_size(chains: np.ndarray) -> tuple[float, float]:
    """``(ess, tau)``: draws / integrated autocorrelation time (emcee's ensemble estimator)."""
    import logging

    from emcee.autocorr import integrated_time

    logging.getLogger("emcee.autocorr").setLevel(logging.ERROR)  # we warn ourselves (check())
    chains = np.asarray(chains, dtype=float)
    if chains.ndim == 1:
        chains = chains[:, None]
    tau = float(integrated_time(chains[:, :, None], quiet=True)[0])
    tau = max(tau, 1.0)
    return float(chains.size / tau), tau


def check(diagnostics: dict, what: str = "E(D0)") -> list[str]:
    """Messages (also issued as :class:`ConvergenceWarning`) when the diagnostics look poor."""
    msgs = []
    rhat = diagnostics.get("rhat")
    ess = diagnostics.get("ess")
    if rhat is not None and np.isfinite(rhat) and rhat > RHAT_MAX:
        msgs.append(f"R-hat of {what} is {rhat:.3f} > {RHAT_MAX}: chains have not mixed; "
                    "increase --samples")
    if ess is not None and np.isfinite(ess) and ess < ESS_MIN:
        msgs.append(f"effective sample size of {what} is {ess:.0f} < {ESS_MIN}; "
                    "increase --samples")
    for m in msgs:
        warnings.warn(m, ConvergenceWarning, stacklevel=3)
    return msgs


#: share of the draws at one value of E(D0) above which the distribution is called a point mass
POINT_MASS_SHARE = 0.25


def point_mass(samples: np.ndarray | None, decimals: int = 3) -> tuple[float, float] | None:
    """``(value, share)`` when more than :data:`POINT_MASS_SHARE` of the draws sit at one value
    (to ``decimals``; e.g. bootstrap replicates stuck at the data's edge or a bound): their
    CDF is then a step, and its percentiles say less than they seem to."""
    if samples is None or len(samples) < 10:
        return None
    vals, counts = np.unique(np.round(np.asarray(samples, dtype=float), decimals),
                             return_counts=True)
    k = int(np.argmax(counts))
    share = float(counts[k] / counts.sum())
    return (float(vals[k]), share) if share > POINT_MASS_SHARE else None


def check_point_mass(samples: np.ndarray | None, method: str,
                     fraction_at_bounds: float | None = None) -> list[str]:
    """Messages (also issued as :class:`ConvergenceWarning`) when the draws pile up at one
    value of E(D0) or many replicates hit a bound of the search range."""
    msgs = []
    pm = point_mass(samples)
    if pm is not None:
        msgs.append(f"{pm[1]:.0%} of the {method} draws of E(D0) sit at {pm[0]:.3f}: the "
                    "distribution is a point mass there (a bound or the data's edge), so its "
                    "percentiles understate the uncertainty on that side")
    if fraction_at_bounds is not None and fraction_at_bounds > 0.5:
        msgs.append(f"{fraction_at_bounds:.0%} of the {method} replicates have a parameter at "
                    "a bound of its search range: the data do not pin the law down")
    for m in msgs:
        warnings.warn(m, ConvergenceWarning, stacklevel=3)
    return msgs
