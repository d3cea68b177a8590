"""Hierarchical (pooled) instance-level fit of the task scaling law.

Why: independent per-instance fits are unstable where an instance has few or no passes at the
small sizes: its slope is barely constrained, and the fitted line can be made arbitrarily steep,
so extrapolating to a larger model over-predicts badly. Pooling puts a population distribution
on the per-instance lines, ``(a_s, b_s) ~ N(mu, Sigma)``, so an instance with little information
borrows its slope from the others while an instance with many passes keeps its own.

Estimation (empirical Bayes, as lme4's ``glmer`` with ``nAGQ``): the instance lines are
integrated out of the binomial likelihood by adaptive Gauss-Hermite quadrature (5 x 5 nodes,
centred at each instance's posterior mode found by vectorised Newton, where the cloglog
likelihood is concave; one node would be the Laplace approximation), and the hyperparameters
(mu, log standard deviations, correlation) maximise that marginal likelihood times weak priors.
The prediction is the plug-in mean over instances of their fitted lines; its interval draws
the hyperparameters from the Gaussian approximation of their posterior (numerical Hessian),
re-solves every instance's line at its conditional mode, and resamples instances
(:func:`pooled_plugin_draws`); the law's size-to-size scatter is added by
:mod:`emergence_law.passuntil.law`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from emergence_law.passuntil.likelihood import (
    CountsGrid,
    cell_loglik,
    instance_newton,
    pass_rate,
)

#: weak priors on the hyperparameters (log-sd ~ N(log 0.5, 1.5^2), atanh(rho) ~ N(0, 1),
#: mu ~ N(0, 10^2)); they only keep the optimum away from sd = 0 with very few instances
_LOGSD_PRIOR = (np.log(0.5), 1.5)
_MU_SD = 10.0
#: quadrature points per dimension for the marginal likelihood (1 = Laplace)
QUADRATURE_POINTS = 5


def _unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = theta[:2]
    sd = np.exp(theta[2:4])
    rho = np.tanh(theta[4])
    cov = np.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])
    return mu, cov


@dataclass
class PooledState:
    """Hyperparameters, their covariance, and the instance modes at the optimum."""

    theta: np.ndarray
    theta_cov: np.ndarray
    modes: np.ndarray
    hessians: np.ndarray
    log_marginal: float
    converged: bool


def _quadrature(n: int) -> tuple[np.ndarray, np.ndarray]:
    """2-D Gauss-Hermite nodes (weight exp(-|z|^2/2)) and log weights including exp(|z|^2/2)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    Z = np.stack(np.meshgrid(z, z, indexing="ij"), -1).reshape(-1, 2)
    logw = (np.log(w)[:, None] + np.log(w)[None, :]).reshape(-1) + 0.5 * np.sum(Z**2, axis=1)
    return Z, logw - np.log(2 * np.pi)


_QUAD = _quadrature(QUADRATURE_POINTS)


def _log_integrals(modes: np.ndarray, H: np.ndarray, trials: np.ndarray, passes: np.ndarray,
                   x: np.ndarray, mu: np.ndarray, prec: np.ndarray) -> np.ndarray:
    """Per instance, log of the integral of likelihood x exp(-quad/2) over its line, by adaptive
    Gauss-Hermite quadrature centred at the mode and scaled by the curvature there (Laplace is
    the one-node case; Laplace underestimates the spread of instances when passes are few)."""
    Z, logw = _QUAD
    L = np.linalg.cholesky(np.linalg.inv(H))  # (S, 2, 2)
    B = modes[:, None, :] + np.einsum("sij,kj->ski", L, Z)  # (S, K, 2)
    eta = B[..., :1] + B[..., 1:] * x[None, None, :]  # (S, K, M)
    ll = cell_loglik(eta, trials[:, None, :], passes[:, None, :]).sum(axis=-1)
    d = B - mu
    h = ll - 0.5 * np.einsum("ski,ij,skj->sk", d, prec, d) + logw[None, :]
    top = h.max(axis=1)
    log_det_l = np.log(L[:, 0, 0]) + np.log(L[:, 1, 1])
    return top + np.log(np.exp(h - top[:, None]).sum(axis=1)) + log_det_l


def _log_marginal(theta: np.ndarray, trials: np.ndarray, passes: np.ndarray, x: np.ndarray,
                  warm: dict) -> float:
    mu, cov = _unpack(theta)
    try:
        prec = np.linalg.inv(cov)
    except np.linalg.LinAlgError:
        return -np.inf
    modes, H, ll = instance_newton(trials, passes, x, mu, prec, beta0=warm.get("modes"))
    warm["modes"] = modes
    _, logdet_cov = np.linalg.slogdet(cov)
    lm = float(np.sum(_log_integrals(modes, H, trials, passes, x, mu, prec))) \
        - 0.5 * len(modes) * logdet_cov
    lp = (-0.5 * np.sum(((theta[2:4] - _LOGSD_PRIOR[0]) / _LOGSD_PRIOR[1]) ** 2)
          - 0.5 * theta[4] ** 2 - 0.5 * np.sum((theta[:2] / _MU_SD) ** 2))
    return lm + lp


def fit_pooled(grid: CountsGrid, init: np.ndarray | None = None) -> PooledState:
    """Maximise the Laplace marginal likelihood over the hyperparameters."""
    x = grid.x - grid.x0
    warm: dict = {}
    if init is None:
        # start from a lightly regularised independent fit
        modes, _, _ = instance_newton(grid.trials, grid.passes, x, np.zeros(2),
                                      np.eye(2) / 4.0)
        mu0 = np.median(modes, axis=0)
        sd0 = np.clip(np.std(modes, axis=0), 0.1, 3.0)
        init = np.array([mu0[0], mu0[1], np.log(sd0[0]), np.log(sd0[1]), 0.0])
        warm["modes"] = modes

    def nll(t: np.ndarray) -> float:
        v = _log_marginal(t, grid.trials, grid.passes, x, warm)
        return -v if np.isfinite(v) else 1e300

    res = optimize.minimize(nll, init, method="BFGS", options={"gtol": 1e-4})
    if not res.success:  # BFGS stalled (e.g. a flat direction): polish with Nelder-Mead
        res2 = optimize.minimize(nll, res.x, method="Nelder-Mead",
                                 options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000,
                                          "adaptive": True})
        res = res2 if res2.fun <= res.fun else res
    best = res
    theta = best.x
    cov = _numeric_inverse_hessian(nll, theta)
    mu, c = _unpack(theta)
    modes, H, _ = instance_newton(grid.trials, grid.passes, x, mu, np.linalg.inv(c),
                                  beta0=warm.get("modes"))
    return PooledState(theta, cov, modes, H, -float(best.fun), bool(best.success))


def _numeric_inverse_hessian(f, theta: np.ndarray, h: float = 1e-3) -> np.ndarray:
    n = len(theta)
    H = np.zeros((n, n))
    f0 = f(theta)
    for i in range(n):
        for j in range(i, n):
            ei = np.eye(n)[i] * h
            ej = np.eye(n)[j] * h
            if i == j:
                H[i, i] = (f(theta + ei) - 2 * f0 + f(theta - ei)) / h**2
            else:
                H[i, j] = H[j, i] = (f(theta + ei + ej) - f(theta + ei - ej)
                                     - f(theta - ei + ej) + f(theta - ei - ej)) / (4 * h**2)
    w, V = np.linalg.eigh((H + H.T) / 2)
    w = np.maximum(w, 1e-6)  # a flat direction gets a wide (not infinite) variance
    return (V / w) @ V.T


def pooled_plugin_draws(grid: CountsGrid, state: PooledState, x_new: np.ndarray,
                        idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws of the plug-in task pass rate at centred log-sizes ``x_new``.

    Per draw: hyperparameters from the Gaussian approximation of their posterior, every
    instance's line re-solved at its conditional mode under them, then the mean over the
    instances ``idx[d]`` (a bootstrap resample: the count noise of each instance travels with
    it) of each line's pass rate. The point prediction is the same plug-in at the fitted
    hyperparameters; nowhere are per-instance lines drawn from prior-dominated posteriors.
    Returns (len(idx), len(x_new)).
    """
    x = grid.x - grid.x0
    n_draws = len(idx)
    thetas = rng.multivariate_normal(state.theta, state.theta_cov, size=n_draws)
    thetas[0] = state.theta
    out = np.empty((n_draws, len(x_new)))
    modes = state.modes
    for j, th in enumerate(thetas):
        mu, cov = _unpack(th)
        modes, _, _ = instance_newton(grid.trials, grid.passes, x, mu, np.linalg.inv(cov),
                                      beta0=modes, iters=20)
        m = modes[idx[j]]
        out[j] = pass_rate(m[:, :1], m[:, 1:], x_new[None, :]).mean(axis=0)
    return out
