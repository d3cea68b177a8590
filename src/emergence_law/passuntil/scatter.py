"""The size-level random effect of the task scaling law: how far real task means scatter.

Real task means scatter around any law from size to size (training runs differ); the
instance-level counts cannot see it. Each level of :class:`~emergence_law.passuntil.law.
TaskScalingLaw` compares the observed task mean at each training size with its fit (residuals
``d_j`` on the log(-log PU) scale, standard errors ``se_j``) and treats the scatter as
``u_j ~ N(0, tau^2)``. This module holds that model: tau's posterior, the leverage that scales
it at a target size, and the optional allowance for a bend of the law in log N.
"""

from __future__ import annotations

import numpy as np

#: scale of the half-Cauchy prior on the size-level sd of log(-log task PU) around the law
TAU_SCALE = 0.2
#: the grid on which tau's posterior is evaluated (and drawn from)
TAU_GRID = np.linspace(0.0, 3.0, 301)


def tau_posterior(d: np.ndarray, se: np.ndarray, dof: int
                  ) -> tuple[np.ndarray, np.ndarray, float]:
    """Posterior of the size-level sd tau on :data:`TAU_GRID`, and its mean of tau^2.

    Given residuals ``d_j ~ N(0, se_j^2 + tau^2)``, a half-Cauchy(0, :data:`TAU_SCALE`) prior and
    the likelihood tempered by ``dof / M`` for the two fitted line parameters (REML-like).
    It is drawn once per interval draw, so a tau that the few residual degrees of freedom cannot
    rule out still widens the interval (a point estimate is 0 half the time). With ``dof < 1``
    the posterior is a point mass at 0: the scatter cannot be measured.
    """
    grid = TAU_GRID
    if dof < 1:
        return grid, np.r_[1.0, np.zeros(len(grid) - 1)], 0.0
    v = se[None, :] ** 2 + grid[:, None] ** 2
    ll = -0.5 * np.sum(np.log(v) + d[None, :] ** 2 / v, axis=1) * dof / len(d)
    lp = ll - np.log1p((grid / TAU_SCALE) ** 2)
    post = np.exp(lp - lp.max())
    post /= post.sum()
    return grid, post, float(np.sum(post * grid**2))


def curvature_sd(x: np.ndarray, y: np.ndarray, se: np.ndarray, tau2: float) -> float:
    """How far the law may bend: sqrt(q^2 + se(q)^2) of a weighted quadratic fit
    ``y = a + b x + q x^2`` to the task means (0 with fewer than 4 sizes, where a quadratic
    leaves nothing to check it). A line fitted to sizes that bend by q errs at an
    extrapolated size by ``q (x^2 - line through x_j^2)`` (:func:`bend`): added to the
    interval with ``allow_bend``, so that a sub- or super-scaling family the 2-3 residual
    degrees of freedom cannot reveal still gets an honest width (measured in
    benchmarks/bench_passuntil_levels.py)."""
    if len(x) < 4:
        return 0.0
    w = 1.0 / (se**2 + tau2 + 1e-12)
    X = np.stack([np.ones_like(x), x, x**2], axis=1)
    cov = np.linalg.inv((X.T * w) @ X)
    beta = cov @ ((X.T * w) @ y)
    chi2 = float(np.sum(w * (y - X @ beta) ** 2))
    cov = cov * max(1.0, chi2 / (len(x) - 3))
    return float(np.sqrt(beta[2] ** 2 + cov[2, 2]))


def bend(xs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x^2 minus the least-squares line through the training sizes' ``xs``^2, at ``x``."""
    X = np.stack([np.ones_like(xs), xs], axis=1)
    c = np.linalg.lstsq(X, xs**2, rcond=None)[0]
    return x**2 - (c[0] + c[1] * x)


def leverage(xs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Leverage ``h`` of ``x`` in a regression on the training sizes ``xs``: the target's
    scatter is ``tau^2 (1 + h)``, since the training sizes' shocks moved the fitted line too."""
    sxx = float(np.sum((xs - xs.mean()) ** 2)) or 1.0
    return 1.0 / len(xs) + (x - xs.mean()) ** 2 / sxx
