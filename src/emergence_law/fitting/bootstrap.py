"""Posterior by bootstrap: refit the law on many resampled tables, all replicates at once.

Resampling units (``unit=``):

- ``"parametric"`` (default): new values drawn from the fitted law plus its noise model
  (Gaussian with the fitted sigma, or binomial with each row's ``n_eval``; quasi-binomial: a
  binomial draw whose deviation from the fitted value is scaled by ``sqrt(phi)``, see
  :func:`quasi_binomial_draws`).
- ``"checkpoint"``: checkpoints drawn with replacement, each keeping all its rows (few-shot and
  every data level), so the dependence between rows of one checkpoint is kept.
- ``"residual"``: fitted values plus residuals drawn with replacement.

Which one gives calibrated intervals is measured in benchmarks/calibration.py (docs/core.md).

Speed: a replicate differs from the data only in its values and row weights (a checkpoint
resample is an integer weight per row), so with one slope every replicate's profiled RSS over
the whole start grid is a handful of matrix products, and the local polish is a Levenberg-
Marquardt iteration run for all replicates together. 1000 replicates take well under a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emergence_law.fitting.mle import fit_mle, initial_grid, lm_polish
from emergence_law.fitting.model import ProfileModel, binomial_weights

UNITS = ("parametric", "checkpoint", "residual")


@dataclass
class BootstrapResult:
    theta: np.ndarray        # (B, 3)
    settings: dict
    diagnostics: dict


class BatchedProfile:
    """Profiled RSS of a shared-slope model for many (values, weights) replicates at once."""

    def __init__(self, model: ProfileModel, Y: np.ndarray, W: np.ndarray) -> None:
        self.m = model
        d = model.data
        fs = d.is_fewshot.astype(float)
        cols = [np.ones(d.n)] + ([fs] if model.has_fewshot else [])
        self.C = np.stack(cols, axis=1)                                # (n, c) unweighted
        self.Y, self.W = Y, W                                           # (B, n)
        WY = W * Y
        self.WY = WY
        self.yy = np.einsum("bn,bn->b", WY, Y)
        CtWC = np.einsum("nc,bn,nd->bcd", self.C, W, self.C)
        self.K = np.linalg.pinv(CtWC)                                   # (B, c, c)
        self.CtWy = WY @ self.C                                         # (B, c)
        self.beta_flat = np.einsum("bcd,bd->bc", self.K, self.CtWy)
        self.flat_rss = self.yy - np.einsum("bc,bc->b", self.beta_flat, self.CtWy)

    def _relu(self, theta: np.ndarray) -> np.ndarray:
        E = self.m.elbows(theta)
        return np.maximum(E[:, self.m.data.level] - self.m.data.loss[None, :], 0.0)

    def rss_grid(self, theta: np.ndarray) -> np.ndarray:
        """RSS (G, B) of every grid point for every replicate."""
        R = self._relu(theta)                                          # (G, n)
        a = (R * R) @ self.W.T                                          # (G, B)
        d = R @ self.WY.T                                               # (G, B)
        c = self.C.shape[1]
        b = np.stack([(R * self.C[:, j]) @ self.W.T for j in range(c)], axis=-1)  # (G, B, c)
        bK = np.einsum("gbc,bcd->gbd", b, self.K)
        denom = a - np.einsum("gbc,gbc->gb", bK, b)
        num = d - np.einsum("gbc,bc->gb", bK, self.CtWy)
        ok = (denom > 1e-12 * np.maximum(a, 1e-300)) & (num > 0)
        gain = np.where(ok, num * num / np.where(ok, denom, 1.0), 0.0)
        return self.flat_rss[None, :] - gain

    def solve_pairs(self, theta: np.ndarray, idx: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For replicate ``b`` at ``theta[b]``: (A (B,), consts (B, c), rss (B,))."""
        sl = slice(None) if idx is None else idx
        R = self._relu(theta)                                           # (B, n)
        W, WY = self.W[sl], self.WY[sl]
        a = np.einsum("bn,bn,bn->b", R, R, W)
        d = np.einsum("bn,bn->b", R, WY)
        b = np.einsum("bn,bn,nc->bc", R, W, self.C)
        K = self.K[sl]
        bK = np.einsum("bc,bcd->bd", b, K)
        denom = a - np.einsum("bc,bc->b", bK, b)
        num = d - np.einsum("bc,bc->b", bK, self.CtWy[sl])
        ok = (denom > 1e-12 * np.maximum(a, 1e-300)) & (num > 0)
        A = np.where(ok, num / np.where(ok, denom, 1.0), 0.0)
        consts = self.beta_flat[sl] - A[:, None] * bK
        rss = self.flat_rss[sl] - np.where(ok, num * A, 0.0)
        return A, consts, rss

    def residuals(self, theta: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        sl = slice(None) if idx is None else idx
        A, consts, _ = self.solve_pairs(theta, idx)
        R = self._relu(theta)
        fit = A[:, None] * R + consts @ self.C.T
        return np.sqrt(self.W[sl]) * (self.Y[sl] - fit)


def quasi_binomial_draws(fitted: np.ndarray, n_eval: np.ndarray, phi: float, n: int,
                         rng: np.random.Generator) -> np.ndarray:
    """``n`` replicate tables (n, rows) with mean ``p`` (the fitted value) and variance
    ``phi p(1-p)/n_eval``: ``p + sqrt(phi) (X/n_eval - p)`` with ``X ~ Binomial(n_eval, p)``.

    Why this draw: it has exactly the quasi-binomial's two moments for any ``phi`` (a
    beta-binomial exists only for ``phi >= 1``), keeps the binomial's skew near 0 and 1, and is
    the binomial branch's draw at ``phi = 1``. (Residual resampling, ``unit="residual"``, needs
    no ``phi``: it resamples the standardised residuals, which carry it.) A draw outside
    ``[0, 1]`` (``phi > 1`` next to 0 % or 100 %) is clipped: no accuracy lies there, and the
    weights of the refit need a proportion.
    """
    p = np.clip(fitted, 0.0, 1.0)
    x = rng.binomial(n_eval[None, :], p[None, :], size=(n, len(p))) / n_eval[None, :]
    return np.clip(p[None, :] + np.sqrt(phi) * (x - p[None, :]), 0.0, 1.0)


def _replicates(model: ProfileModel, unit: str, beta: np.ndarray, theta_hat: np.ndarray,
                n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Values and weights (n_rep, rows) of the resampled tables."""
    d = model.data
    resid = model.residuals(theta_hat)  # weighted: sqrt(w) (value - fitted)
    fitted = d.value - resid / np.sqrt(d.weight)
    if unit == "parametric":
        if model.likelihood == "binomial":
            p = np.clip(fitted, 0.0, 1.0)
            ne = d.n_eval.astype(int)
            Y = rng.binomial(ne[None, :], p[None, :], size=(n, d.n)) / ne[None, :]
            W = binomial_weights(Y, ne[None, :].astype(float))
        elif model.likelihood == "quasi-binomial":
            phi = model.dispersion(float(np.sum(resid ** 2)))
            Y = quasi_binomial_draws(fitted, d.n_eval.astype(int), phi, n, rng)
            W = binomial_weights(Y, d.n_eval[None, :].astype(float))
        else:
            sigma = np.sqrt(model.dispersion(np.sum((d.value - fitted) ** 2)))
            Y = fitted[None, :] + rng.normal(0.0, sigma, size=(n, d.n))
            W = np.ones_like(Y)
        return Y, W
    if unit == "residual":
        res = (d.value - fitted) * np.sqrt(d.weight)
        res = res - res.mean()
        draw = rng.choice(res, size=(n, d.n), replace=True)
        Y = fitted[None, :] + draw / np.sqrt(d.weight)[None, :]
        return Y, np.broadcast_to(d.weight, Y.shape).copy()
    # checkpoint: multinomial counts of checkpoints, as row weights
    key = d.rows["loss"].astype(str)
    if "checkpoint" in d.rows and d.rows["checkpoint"].notna().all():
        key = d.rows["model"].astype(str) + "/" + d.rows["checkpoint"].astype(str)
    codes = np.unique(key.to_numpy(), return_inverse=True)[1]
    n_ck = int(codes.max()) + 1
    counts = rng.multinomial(n_ck, np.full(n_ck, 1.0 / n_ck), size=n)   # (n, n_ck)
    W = counts[:, codes] * d.weight[None, :]
    return np.broadcast_to(d.value, W.shape).copy(), W.astype(float)


def bootstrap_posterior(
    model: ProfileModel, theta_hat: np.ndarray, beta: np.ndarray, *, n_samples: int = 1000,
    unit: str = "parametric", seed: int = 0, chunk: int = 250,
    progress: Callable[[int, int], None] | None = None,
) -> BootstrapResult:
    """Refit ``n_samples`` resampled tables; return their theta (E(D0) is column 0)."""
    from emergence_law.errors import SettingError

    if unit not in UNITS:
        raise SettingError("unit", f"unknown unit {unit!r} (use {', '.join(UNITS)})")
    rng = np.random.default_rng(seed)
    thetas = []
    grid = initial_grid(model, n_e=11, n_alpha=7)
    done = 0
    while done < n_samples:
        m = min(chunk, n_samples - done)
        Y, W = _replicates(model, unit, beta, theta_hat, m, rng)
        if model.shared_ab:
            bp = BatchedProfile(model, Y, W)
            G = bp.rss_grid(grid)                                      # (G, m)
            start = grid[np.argmin(G, axis=0)]
            t1, f1, _ = lm_polish(bp.residuals, start, model.bounds)
            t2, f2, _ = lm_polish(bp.residuals, np.repeat(theta_hat[None, :], m, axis=0),
                                  model.bounds)
            th = np.where((f2 < f1)[:, None], t2, t1)
        else:  # per-level slopes: refit one by one (slower, same answer)
            th = np.array([_refit_one(model, Y[i], W[i], theta_hat) for i in range(m)])
        thetas.append(th)
        done += m
        if progress is not None:
            progress(done, n_samples)
    theta = np.concatenate(thetas)
    b = model.bounds
    at_bound = np.mean(np.any((theta <= b[:, 0] + 1e-6) | (theta >= b[:, 1] - 1e-6), axis=1))
    return BootstrapResult(
        theta=theta,
        settings={"method": "bootstrap", "unit": unit, "replicates": n_samples, "seed": seed},
        diagnostics={"fraction_at_bounds": float(at_bound)},
    )


def _refit_one(model: ProfileModel, y: np.ndarray, w: np.ndarray,
               theta_hat: np.ndarray) -> np.ndarray:
    from copy import copy

    from emergence_law.fitting.model import ProfileModel as PM

    data = copy(model.data)
    keep = w > 0
    data.value, data.weight = y, np.where(keep, w, 1e-12)
    m = PM(data, form=model.form, d0=model.d0, likelihood=model.likelihood,
           shared_ab=model.shared_ab)
    return fit_mle(m, extra_starts=theta_hat[None, :]).theta
