"""The per-instance binomial likelihood of the task scaling law, on the log(-log PU) scale.

``PU(N) = exp(-c N^-alpha)`` is ``eta = log(-log PU) = a + b (log N - x0)`` with ``b = -alpha``
and ``log c = a - b x0`` (``x0`` centres log N so ``a`` and ``b`` are nearly uncorrelated). With
this link the failures of an instance follow a binomial GLM with the complementary log-log link,
whose log-likelihood is concave in ``eta``; Newton's method is therefore safe. Every cell
``(instance, model)`` contributes ``R log p + (K - R) log(1 - p)``: zero-pass and censored cells
are kept with exactly this term (censoring does not change the likelihood), never dropped and
never recorded as p = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergence_law.errors import DataError, NotIdentifiableError


def log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(-x)) for x > 0, accurate at both ends (Maechler 2012)."""
    x = np.asarray(x, dtype=float)
    return np.where(x < np.log(2), np.log(-np.expm1(-x)), np.log1p(-np.exp(-x)))


def cell_loglik(eta: np.ndarray, trials: np.ndarray, passes: np.ndarray) -> np.ndarray:
    """Log-likelihood of each cell at linear predictor ``eta`` (broadcasts)."""
    u = np.exp(np.clip(eta, -700, 700))
    fails = trials - passes
    return -passes * u + np.where(fails > 0, fails * log1mexp(np.maximum(u, 1e-300)), 0.0)


def cell_derivatives(eta: np.ndarray, trials: np.ndarray,
                     passes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and (negative) second derivative of :func:`cell_loglik` with respect to ``eta``."""
    u = np.exp(np.clip(eta, -700, 700))
    fails = trials - passes
    # g = u / expm1(u) and ue = u e^u / expm1(u), written with e^-u so large u cannot overflow
    safe = np.maximum(u, 1e-300)
    denom = -np.expm1(-safe)
    g = np.where(u < 1e-8, 1.0 - u / 2, safe * np.exp(-safe) / denom)
    ue = np.where(u < 1e-8, 1.0 + u / 2, safe / denom)
    d1 = -passes * u + fails * g
    # d2 = -R u + F g (1 - u e^u/expm1(u)); the bracket is <= 0, so -d2 >= 0
    d2 = -passes * u + fails * g * (1.0 - ue)
    return d1, -d2


@dataclass
class CountsGrid:
    """Counts of one task arranged as instances x models (missing cells have zero trials)."""

    instances: list[str]
    models: list[str]
    params: np.ndarray  # (M,)
    trials: np.ndarray  # (S, M)
    passes: np.ndarray  # (S, M)
    censored: np.ndarray  # (S, M) bool

    @property
    def x(self) -> np.ndarray:
        return np.log(self.params)

    @property
    def x0(self) -> float:
        return float(np.mean(self.x))

    @classmethod
    def from_counts(cls, counts: pd.DataFrame, source: str = "counts") -> CountsGrid:
        sizes = counts.groupby("model")["params"].first().sort_values()
        if len(sizes) < 2:
            raise DataError("a scaling law needs counts from at least two model sizes "
                            f"(found {len(sizes)})", source=source, column="params")
        if sizes.nunique() < 2:
            raise DataError("all models have the same params; a law in N needs several sizes",
                            source=source, column="params")
        models = list(sizes.index)
        insts = sorted(counts["instance"].astype(str).unique())
        mi = {m: j for j, m in enumerate(models)}
        si = {s: i for i, s in enumerate(insts)}
        k = np.zeros((len(insts), len(models)))
        x = np.zeros_like(k)
        c = np.zeros_like(k, dtype=bool)
        cens = counts["censored"] if "censored" in counts else pd.Series(False, index=counts.index)
        for (m, s, t, p, ce) in zip(counts["model"], counts["instance"].astype(str),
                                    counts["trials"], counts["passes"], cens, strict=True):
            k[si[s], mi[m]] = float(t)
            x[si[s], mi[m]] = float(p)
            c[si[s], mi[m]] = bool(ce)
        return cls(insts, models, sizes.to_numpy(dtype=float), k, x, c)


def instance_newton(
    trials: np.ndarray, passes: np.ndarray, x: np.ndarray, prior_mean: np.ndarray,
    prior_prec: np.ndarray, beta0: np.ndarray | None = None, iters: int = 50, tol: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior modes of every instance's (a, b) under a Gaussian prior, vectorised.

    ``trials, passes``: (S, M); ``x``: (M,) centred log N; ``prior_mean`` (2,) or (S, 2);
    ``prior_prec`` (2, 2). Returns modes (S, 2), negative Hessians (S, 2, 2) and the
    log-likelihood part at the modes (S,). The objective is concave, so damped Newton converges.
    """
    S = trials.shape[0]
    X = np.stack([np.ones_like(x), x], axis=1)  # (M, 2)
    mu = np.broadcast_to(prior_mean, (S, 2))
    beta = np.array(mu if beta0 is None else beta0, dtype=float, copy=True)

    def objective(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        eta = b @ X.T
        ll = cell_loglik(eta, trials, passes).sum(axis=1)
        d = b - mu
        return ll - 0.5 * np.einsum("si,ij,sj->s", d, prior_prec, d), ll

    f, ll = objective(beta)
    for _ in range(iters):
        eta = beta @ X.T
        d1, w = cell_derivatives(eta, trials, passes)
        grad = d1 @ X - (beta - mu) @ prior_prec
        H = np.einsum("sm,mi,mj->sij", w, X, X) + prior_prec
        step = np.linalg.solve(H, grad[..., None])[..., 0]
        t = np.ones(S)
        for _ in range(30):  # backtracking, per instance
            cand = beta + t[:, None] * step
            fc, llc = objective(cand)
            bad = ~(fc >= f - 1e-12) | ~np.isfinite(fc)
            if not bad.any():
                break
            t = np.where(bad, t / 2, t)
        beta, f_new, ll = cand, fc, llc
        done = np.max(np.abs(t[:, None] * step)) < tol
        f = f_new
        if done:
            break
    eta = beta @ X.T
    _, w = cell_derivatives(eta, trials, passes)
    H = np.einsum("sm,mi,mj->sij", w, X, X) + prior_prec
    return beta, H, ll


def pass_rate(a: np.ndarray, b: np.ndarray, x: np.ndarray | float) -> np.ndarray:
    """PU at centred log-size ``x`` for line parameters (a, b): exp(-exp(a + b x))."""
    return np.exp(-np.exp(np.clip(a + b * x, -700, 700)))


def check_counts(grid: CountsGrid, source: str = "counts") -> list[str]:
    """Refuse counts a law cannot be fitted to; return warnings in words for weak ones."""
    k, x = grid.trials, grid.passes
    total = int(k.sum())
    if not np.any(x > 0):
        n = len(grid.instances)
        bound = 1 - 0.025 ** (1 / max(k[k > 0].min() * n, 1))
        raise NotIdentifiableError(
            f"{source}: no instance passed at any model size ({total} samples): the task scaling "
            f"law cannot be fitted (the largest model's task pass rate is below about "
            f"{bound:.2g}, 95% exact); sample more before fitting")
    if np.all(x[k > 0] == k[k > 0]):
        raise NotIdentifiableError(
            f"{source}: every sample passed at every model size: the task scaling law cannot be "
            "fitted (pass rates are at 1)")
    sizes_with_pass = int(np.sum((x > 0).any(axis=0)))
    if sizes_with_pass < 2:
        raise NotIdentifiableError(
            f"{source}: only {sizes_with_pass} model size has any pass: the law's slope in N "
            "needs passes at two sizes at least; sample the other sizes more")
    warns = []
    used = k > 0
    if np.all(k[used] == 1):
        warns.append("every instance was sampled once per model (trials = 1): each count is 0 "
                     "or 1, so per-instance rates are not measured; the fit rests on how many "
                     "instances pass, and tiny pass rates are invisible")
    elif np.median(k[used]) < 10:
        warns.append(f"few samples per instance (median {np.median(k[used]):.0f}): rates below "
                     f"about {1 / np.median(k[used]):.2g} per instance are not resolved")
    if np.all(x[:, -1][used[:, -1]] == k[:, -1][used[:, -1]]):
        warns.append("the largest model passed every sample: it is at the ceiling and bounds "
                     "the law only from below")
    return warns
