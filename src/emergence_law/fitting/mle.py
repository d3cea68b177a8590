"""Maximum likelihood: a vectorised grid over the three anchored parameters, then local polish.

The profiled objective (RSS over ``theta``) is piecewise smooth with kinks wherever an elbow
crosses a data point, and can have several basins when alpha is weakly identified. A grid over
``(E(D0), E(D_ref), alpha)`` evaluated in one batched call finds the basins cheaply; the best few
distinct grid points are then polished together by a batched Levenberg-Marquardt iteration on
the profiled residuals (3 unknowns, finite-difference Jacobian), one numpy call for all starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from emergence_law.fitting.model import ProfileModel

FD_STEPS = np.array([1e-6, 1e-6, 1e-5])


@dataclass
class MLEResult:
    theta: np.ndarray
    beta: np.ndarray
    rss: float
    loglik: float
    n_evals: int


def initial_grid(model: ProfileModel, n_e: int = 13, n_alpha: int = 7) -> np.ndarray:
    """Grid of theta: elbows over the data's loss range (plus margin), alpha over its bounds."""
    lo, hi = float(model.data.loss.min()), float(model.data.loss.max())
    span = hi - lo
    e = np.linspace(lo - 0.5 * span, hi + 0.15 * span, n_e)
    b = model.bounds[2]
    a = np.linspace(b[0] + 0.25, b[1] - 0.25, n_alpha)
    g = np.stack(np.meshgrid(e, e, a, indexing="ij"), axis=-1).reshape(-1, 3)
    return g


def lm_polish(residuals: Callable[[np.ndarray, np.ndarray], np.ndarray], theta: np.ndarray,
              bounds: np.ndarray, *, iters: int = 60,
              steps: np.ndarray = FD_STEPS, merge_scale: np.ndarray | None = None,
              rtol: float = 1e-7) -> tuple[np.ndarray, np.ndarray, int]:
    """Levenberg-Marquardt for a batch of independent 3-parameter least-squares problems.

    ``residuals(theta (b, 3), idx (b,)) -> (b, n)`` for the problems ``idx``. Forward-difference Jacobians (3 extra batched calls
    per iteration), box bounds by clipping, per-problem damping. Returns the polished theta,
    the sums of squares and the number of batched residual calls. Batching is what makes it
    fast: one numpy call serves every start (MLE) or every replicate (bootstrap).

    With ``merge_scale`` (multi-start of ONE problem), a start that has walked into the basin of
    a better one (closer than ``merge_scale`` in every coordinate) stops: it would end there too.
    A problem stops when an iteration improves its sum of squares by less than ``rtol``
    (relative): the profiled objective has kinks, where LM otherwise crawls.
    """
    lo, hi = bounds[:, 0], bounds[:, 1]
    theta = np.clip(np.array(theta, dtype=float), lo, hi)
    r = residuals(theta, np.arange(len(theta)))
    f = np.einsum("bn,bn->b", r, r)
    lam = np.full(len(theta), 1e-3)
    active = np.ones(len(theta), bool)
    calls = 1
    eye = np.eye(3)[None]
    for _ in range(iters):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        th, ri = theta[idx], r[idx]
        J = np.empty(ri.shape + (3,))
        for k in range(3):
            t = th.copy()
            h = steps[k] if t[0, k] + steps[k] <= hi[k] else -steps[k]
            t[:, k] += h
            J[:, :, k] = (residuals(t, idx) - ri) / h
        JtJ = np.einsum("bnk,bnl->bkl", J, J)
        g = np.einsum("bnk,bn->bk", J, ri)
        D = np.einsum("bkk->bk", JtJ) + 1e-12
        M = JtJ + lam[idx, None, None] * (D[:, :, None] * eye)
        step = -np.linalg.solve(M, g[:, :, None])[:, :, 0]
        cand = np.clip(th + step, lo, hi)
        rc = residuals(cand, idx)
        calls += 4
        fc = np.einsum("bn,bn->b", rc, rc)
        better = fc < f[idx]
        gain = np.where(better, f[idx] - fc, 0.0)
        bi = idx[better]
        theta[bi], r[bi], f[bi] = cand[better], rc[better], fc[better]
        lam[idx] = np.where(better, np.maximum(lam[idx] / 3.0, 1e-9), lam[idx] * 4.0)
        done = ((better & (gain <= rtol * np.maximum(f[idx], 1e-300)))
                | (lam[idx] > 1e5) | (np.abs(cand - th).max(axis=1) < 1e-8))
        active[idx[done]] = False
        if merge_scale is not None and len(theta) > 1:
            for i in np.flatnonzero(active):
                near = np.all(np.abs(theta - theta[i]) < merge_scale, axis=1) & (f < f[i])
                if near.any():
                    active[i] = False
    return theta, f, calls


def _simplex_polish(model: ProfileModel, theta: np.ndarray) -> tuple[np.ndarray, int]:
    """Final Nelder-Mead polish from a small simplex: it does not stall at the kinks (elbows
    crossing data points) where a Jacobian-based step can crawl. Returns the polished theta
    and the number of objective evaluations it took."""
    lo, hi = model.bounds[:, 0], model.bounds[:, 1]

    def f(x: np.ndarray) -> float:
        return model.rss_one(x) if (x >= lo).all() and (x <= hi).all() else np.inf

    simplex = np.vstack([theta, theta + np.diag([2e-3, 2e-3, 2e-2])])
    f0 = f(theta)
    res = minimize(f, theta, method="Nelder-Mead",
                   options={"initial_simplex": simplex, "xatol": 1e-6, "fatol": 1e-9 * f0,
                            "maxfev": 600})
    return (res.x if res.fun <= f0 else theta), int(res.nfev)


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
    theta, f, calls = lm_polish(lambda t, _: model.residuals(t), np.array(starts), model.bounds,
                                merge_scale=np.array([0.01, 0.01, 0.1]), rtol=1e-5)
    n_evals += calls * len(starts)
    best_theta, nfev = _simplex_polish(model, theta[int(np.argmin(f))])
    n_evals += nfev
    beta, rss1 = model.solve(best_theta)
    return MLEResult(theta=best_theta, beta=beta[0], rss=float(rss1[0]),
                     loglik=float(model.loglik_from_rss(rss1[0])), n_evals=n_evals)
