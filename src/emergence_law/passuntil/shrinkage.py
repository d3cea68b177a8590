"""Censoring-aware pass rates at one model size: a population model over the instances.

An instance with no pass in K samples has a maximum-likelihood pass rate of 0 on its own, but
its data say only "p is small compared with 1/K" (right-censored). Treating the instances of a
task as draws from a population, ``log(-log p_s) ~ N(m, s^2)`` (the scale on which the task
scaling law is linear), the population is fitted by maximum marginal likelihood in which every
instance contributes its exact binomial term (a censored zero-pass instance contributes
``P(no pass in K | p)``, integrated over the population). Each instance's estimate is then its
posterior mean: positive for a censored instance, below its exact upper bound, and pulled
towards the population where its own data are thin (empirical Bayes). The integrals are
adaptive Gauss-Hermite quadrature around each instance's posterior mode.

Use :func:`population_estimates`. The unbiased per-instance estimator
(:mod:`emergence_law.passuntil.estimate`) needs no model and stays the default; this one trades
a model assumption for lower error when many instances are censored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from emergence_law.errors import OptionError
from emergence_law.passuntil.likelihood import cell_derivatives, cell_loglik

_Z, _W = np.polynomial.hermite_e.hermegauss(20)
_LOGW = np.log(_W) + 0.5 * _Z**2 - 0.5 * np.log(2 * np.pi)


def _modes(k: np.ndarray, x: np.ndarray, m: float, v: float, iters: int = 60
           ) -> tuple[np.ndarray, np.ndarray]:
    """Posterior modes of eta for every instance and the curvature there (damped Newton)."""
    eta = np.full(len(k), m)

    def obj(e: np.ndarray) -> np.ndarray:
        return cell_loglik(e, k, x) - 0.5 * (e - m) ** 2 / v

    f = obj(eta)
    for _ in range(iters):
        d1, w = cell_derivatives(eta, k, x)
        step = (d1 - (eta - m) / v) / (w + 1 / v)
        t = np.ones_like(eta)
        for _ in range(30):
            cand = eta + t * step
            fc = obj(cand)
            bad = ~(fc >= f - 1e-12)
            if not bad.any():
                break
            t = np.where(bad, t / 2, t)
        eta, f = cand, fc
        if np.max(np.abs(t * step)) < 1e-10:
            break
    _, w = cell_derivatives(eta, k, x)
    return eta, w + 1 / v


def _log_terms(k, x, m, v) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (S, Q) on the eta scale and log of (likelihood x prior x quadrature weight)."""
    mode, h = _modes(k, x, m, v)
    scale = 1 / np.sqrt(h)
    eta = mode[:, None] + scale[:, None] * _Z[None, :]
    logt = (cell_loglik(eta, k[:, None], x[:, None]) - 0.5 * (eta - m) ** 2 / v
            - 0.5 * np.log(2 * np.pi * v) + _LOGW[None, :] + np.log(scale)[:, None])
    return eta, logt


@dataclass
class PopulationEstimate:
    """Per-instance posterior-mean pass rates and the task mean under the fitted population."""

    per_instance: np.ndarray
    mean: float
    population_mean: float
    m: float
    s: float
    log_likelihood: float

    def summary(self) -> str:
        return (f"censoring-aware task pass rate {self.mean:.4g} (population log(-log p) ~ "
                f"N({self.m:.3g}, {self.s:.3g}^2), {len(self.per_instance)} instances)")


def population_estimates(trials, passes, censored=None) -> PopulationEstimate:
    """Fit the population by maximum marginal likelihood; return posterior-mean pass rates.

    ``censored`` is accepted for symmetry with the other estimators: the likelihood is the same
    whatever the stopping rule, so it is not needed.
    """
    k = np.asarray(trials, dtype=float)
    x = np.asarray(passes, dtype=float)
    if len(k) < 2:
        raise OptionError("counts", "a population model needs at least two instances")

    def nll(theta: np.ndarray) -> float:
        m, v = theta[0], np.exp(2 * theta[1])
        _, logt = _log_terms(k, x, m, v)
        top = logt.max(axis=1)
        return -float(np.sum(top + np.log(np.exp(logt - top[:, None]).sum(axis=1))))

    with np.errstate(divide="ignore"):
        rough = np.log(-np.log(np.clip((x + 0.5) / (k + 1), 1e-12, 1 - 1e-9)))
    start = np.array([np.mean(rough), np.log(max(np.std(rough), 0.1))])
    res = optimize.minimize(nll, start, method="Nelder-Mead",
                            options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 2000})
    m, v = res.x[0], np.exp(2 * res.x[1])
    eta, logt = _log_terms(k, x, m, v)
    wts = np.exp(logt - logt.max(axis=1, keepdims=True))
    wts /= wts.sum(axis=1, keepdims=True)
    post = np.sum(wts * np.exp(-np.exp(eta)), axis=1)
    pop = float(np.sum(_W / _W.sum() * np.exp(-np.exp(m + np.sqrt(v) * _Z))))
    return PopulationEstimate(post, float(post.mean()), pop, float(m), float(np.sqrt(v)),
                              -float(res.fun))
