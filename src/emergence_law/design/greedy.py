"""Choosing the runs: greedy, batch-aware, on a linearised Bayesian criterion.

Why a surrogate for the choice: the exact criterion (the expected width after simulated outcomes
and refits, :mod:`emergence_law.design.evaluate`) costs about a second per batch, and a greedy
pass over 200 candidates needs thousands of batch evaluations. The surrogate is the classical
pseudo-Bayesian c-optimal criterion, averaged over the current particles (plausible truths):

    for particle i:  Sigma_i(batch) = (Sigma_0^-1 + sum_runs g_i g_i^T / sigma_i^2)^-1
    score(batch)     = mean_i 2 * 1.645 * sqrt(Sigma_i(batch)[E(D0), E(D0)])

with ``Sigma_0`` the particles' covariance of ``phi = (E(D0), E(D*), alpha, A, B, Delta)`` (what
the current table already says) and ``g_i`` the gradient of a run's expected performance in
``phi`` under particle i. A run on the flat side of its elbow under particle i has no
elbow information there (its gradient is only in B), so averaging over particles prices the
chance that a run rises at all. Adding a run is a rank-one update of every ``Sigma_i``
(Sherman-Morrison), so one greedy step scores every candidate at once. Each step takes the
candidate with the largest drop in score per unit cost that still fits the budget, so the batch
is chosen jointly (a replicate of an already chosen run is worth less than the first run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emergence_law.design.particles import Particles
from emergence_law.laws import boxcox_shape

Z90 = 2.0 * 1.6448536269514722


def _frac(p: Particles, D: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(s(log D) - s(log D0)) / (s(log D*) - s(log D0)) per particle: (N, len(D))."""
    law = p.law
    a = alpha[:, None]
    x = np.log(np.asarray(D, dtype=float))[None, :]
    s0 = boxcox_shape(law.x0, a)
    return (boxcox_shape(x, a) - s0) / (boxcox_shape(law.x_ref, a) - s0)


def gradients(p: Particles, loss: np.ndarray, n_train: np.ndarray) -> np.ndarray:
    """d(expected performance)/d(phi) of finetuned runs under every particle: (N, C, 6)."""
    f = _frac(p, n_train, p.alpha)
    h = 1e-4
    df = (_frac(p, n_train, p.alpha + h) - _frac(p, n_train, p.alpha - h)) / (2 * h)
    span = (p.estar - p.e0)[:, None]
    E = p.e0[:, None] + span * f
    gap = E - np.asarray(loss, dtype=float)[None, :]
    rise = (gap > 0).astype(float) * p.A[:, None]
    g = np.empty(f.shape + (6,))
    g[..., 0] = rise * (1.0 - f)
    g[..., 1] = rise * f
    g[..., 2] = rise * span * df
    g[..., 3] = np.maximum(gap, 0.0)
    g[..., 4] = 1.0
    g[..., 5] = 0.0
    return g


def prior_covariance(p: Particles) -> np.ndarray:
    """Covariance of phi over the particles (what the current table says), kept invertible."""
    phi = np.stack([p.e0, p.estar, p.alpha, p.A, p.B, p.delta], axis=1)
    S = np.cov(phi, rowvar=False)
    return S + np.diag(np.maximum(np.diag(S) * 1e-6, 1e-10))


@dataclass
class GreedyResult:
    order: list[int]            # chosen candidate indices, in the order chosen
    surrogate: list[float]      # surrogate expected width after each chosen run
    start: float                # surrogate width before any run


def greedy_select(p: Particles, loss: np.ndarray, n_train: np.ndarray, cost: np.ndarray,
                  budget: float, *, max_particles: int = 1000, seed: int = 0,
                  min_gain: float = 1e-7) -> GreedyResult:
    """Greedy batch within ``budget`` (see the module docstring); stops early when no
    affordable run narrows the surrogate width by more than ``min_gain`` nats."""
    rng = np.random.default_rng(seed)
    if p.n > max_particles:
        p = p.subset(rng.choice(p.n, max_particles, replace=False))
    cost = np.asarray(cost, dtype=float)
    G = gradients(p, loss, n_train)                                  # (N, C, 6)
    S = np.broadcast_to(prior_covariance(p), (p.n, 6, 6)).copy()
    s2 = p.sigma**2
    free = np.ones(cost.size, bool)
    left = float(budget)
    order: list[int] = []
    widths: list[float] = []
    now = float(np.mean(Z90 * np.sqrt(S[:, 0, 0])))
    start = now
    while True:
        ok = free & (cost <= left + 1e-12)
        if not ok.any():
            break
        idx = np.flatnonzero(ok)
        U = np.einsum("nij,ncj->nci", S, G[:, idx])                  # (N, c, 6)
        q = np.einsum("nci,nci->nc", G[:, idx], U)
        denom = s2[:, None] + q
        v = S[:, 0, 0][:, None] - U[..., 0] ** 2 / denom
        after = np.mean(Z90 * np.sqrt(np.maximum(v, 1e-16)), axis=0)
        gain = (now - after) / cost[idx]
        j = int(np.argmax(gain))
        if now - after[j] <= min_gain:
            break
        c = int(idx[j])
        u = U[:, j]
        S -= u[:, :, None] * u[:, None, :] / denom[:, j][:, None, None]
        free[c] = False
        left -= cost[c]
        now = float(after[j])
        order.append(c)
        widths.append(now)
    return GreedyResult(order=order, surrogate=widths, start=start)
