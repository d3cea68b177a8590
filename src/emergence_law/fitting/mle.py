"""Maximum likelihood: a vectorised grid over the three anchored parameters, then local polish.

The profiled objective (RSS over ``theta``) is piecewise smooth with kinks wherever an elbow
crosses a data point, and can have several basins when alpha is weakly identified. A grid over
``(E(D0), E(D_ref), alpha)`` evaluated in one batched call finds the basins cheaply; the best few
distinct grid points are then polished with a bounded trust-region least-squares solver on the
profiled residuals (3 unknowns, finite-difference Jacobian).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from emergence_law.fitting.model import ProfileModel


@dataclass
class MLEResult:
    theta: np.ndarray
    beta: np.ndarray
    rss: float
    loglik: float
    n_evals: int


def initial_grid(model: ProfileModel, n_e: int = 17, n_alpha: int = 9) -> np.ndarray:
    """Grid of theta: elbows over the data's loss range (plus margin), alpha over its bounds."""
    lo, hi = float(model.data.loss.min()), float(model.data.loss.max())
    span = hi - lo
    e = np.linspace(lo - 0.5 * span, hi + 0.15 * span, n_e)
    b = model.bounds[2]
    a = np.linspace(b[0] + 0.25, b[1] - 0.25, n_alpha)
    g = np.stack(np.meshgrid(e, e, a, indexing="ij"), axis=-1).reshape(-1, 3)
    return g


def _polish(model: ProfileModel, start: np.ndarray) -> tuple[np.ndarray, int]:
    b = model.bounds
    x0 = np.clip(start, b[:, 0] + 1e-9, b[:, 1] - 1e-9)
    res = least_squares(model.residuals, x0, bounds=(b[:, 0], b[:, 1]), method="trf",
                        x_scale=np.array([0.05, 0.05, 0.5]), diff_step=1e-6,
                        xtol=1e-10, ftol=1e-12, gtol=1e-12, max_nfev=200)
    return res.x, int(res.nfev)


def fit_mle(model: ProfileModel, *, n_starts: int = 4, grid: np.ndarray | None = None,
            extra_starts: np.ndarray | None = None) -> MLEResult:
    """Global multi-start MLE of ``theta`` (and the profiled linear parameters)."""
    grid = initial_grid(model) if grid is None else grid
    rss = model.rss(grid)
    n_evals = len(grid)
    order = np.argsort(rss)
    starts: list[np.ndarray] = []
    scale = np.array([0.03, 0.03, 0.5])
    for i in order:  # best grid points that are not neighbours of an already chosen one
        cand = grid[i]
        if all(np.max(np.abs(cand - s) / scale) > 1.0 for s in starts):
            starts.append(cand)
        if len(starts) >= n_starts:
            break
    if extra_starts is not None:
        starts.extend(np.atleast_2d(extra_starts))
    best_theta, best_rss = None, np.inf
    for s in starts:
        theta, nfev = _polish(model, s)
        n_evals += nfev
        r = float(model.rss(theta)[0])
        if r < best_rss:
            best_theta, best_rss = theta, r
    beta, rss1 = model.solve(best_theta)
    return MLEResult(theta=best_theta, beta=beta[0], rss=float(rss1[0]),
                     loglik=float(model.loglik_from_rss(rss1[0])), n_evals=n_evals)
