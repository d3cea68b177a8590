"""What we believe about the law now: a cloud of full parameter vectors ("particles").

Each particle is one plausible truth ``(E(D0), E(D*), alpha, A, B, Delta, sigma)`` with
``D* = 10^4`` a fixed anchor (so particles do not depend on which data levels a design has).
They come from one of two places:

- the current table identifies the law (``EmergenceLaw`` accepts it and it has at least
  ``MIN_LEVELS`` = 3 data levels): the project's parametric
  bootstrap of the fit (calibrated, docs/core.md), with each replicate's linear parameters and
  sigma profiled on the observed data;
- otherwise (few-shot rows only, fewer than three data levels, or finetuned rows that never
  rise: the cold start): the prior
  below, importance-weighted by the likelihood of the current rows and resampled.

Prior ("the paper's ranges", widened; the simulator's paper-like laws are E(D0) in
[1.8, 2.0], E(10^4) - E(D0) in [0.25, 0.5], alpha in [0.6, 1.6], A in [0.8, 1.6]):
E(D0) uniform on [least loss - 0.4, greatest loss] of table and candidates (the paper forecast
emergence 2-5x the pretraining FLOPs ahead of its last pre-emergence checkpoint, a few tenths of
a nat; few-shot rows at chance then cut the range to below their least loss); shift
E(10^4) - E(D0) uniform on [0.1, 0.8] nats; alpha uniform on [0.3, 2.0]; A log-uniform on
[0.4, 3]; B at the chance level (or the few-shot mean) +- 0.005; Delta 0 +- 0.005; sigma the
binomial noise at chance for the table's n_eval plus a subset noise log-uniform on
[0.003, 0.03].
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergence_law.errors import NotIdentifiableError
from emergence_law.laws import AnchoredLaw

D_STAR = 1e4
#: data levels a table needs before its bootstrap interval counts: with two, alpha is not
#: identified and the bootstrap's width is an artefact of alpha's search bounds (measured:
#: adding one run at a third level can triple it)
MIN_LEVELS = 3
PRIOR = {"e0_below": 0.4, "shift": (0.1, 0.8), "alpha": (0.3, 2.0), "A": (0.4, 3.0),
         "B_sd": 0.005, "Delta_sd": 0.005, "subset_sd": (0.003, 0.03)}


class DesignWarning(UserWarning):
    """The design's picture of the current uncertainty is rough (few effective particles)."""


@dataclass
class Particles:
    """Equally weighted draws of the full law; arrays of shape (N,)."""

    e0: np.ndarray
    estar: np.ndarray
    alpha: np.ndarray
    A: np.ndarray
    B: np.ndarray
    delta: np.ndarray
    sigma: np.ndarray
    d0: float
    source: str                      # "bootstrap" or "prior"

    @property
    def n(self) -> int:
        return int(self.e0.size)

    @property
    def law(self) -> AnchoredLaw:
        return AnchoredLaw("log_power", self.d0, D_STAR)

    def theta(self) -> np.ndarray:
        return np.stack([self.e0, self.estar, self.alpha], axis=1)

    def elbows(self, D: np.ndarray) -> np.ndarray:
        """E(D) of every particle at every ``D``: (N, len(D))."""
        return self.law.elbows(self.theta(), np.asarray(D, dtype=float))

    def mean(self, loss: np.ndarray, n_train: np.ndarray, fewshot: np.ndarray) -> np.ndarray:
        """Expected performance (N, rows); few-shot rows (``fewshot`` True) at D0, plus Delta."""
        loss = np.asarray(loss, dtype=float)
        fewshot = np.asarray(fewshot, dtype=bool)
        D = np.where(fewshot, self.d0, np.asarray(n_train, dtype=float))
        E = self.elbows(D)
        mu = self.B[:, None] + self.A[:, None] * np.maximum(E - loss[None, :], 0.0)
        mu = mu + np.where(fewshot[None, :], self.delta[:, None], 0.0)
        return np.minimum(mu, 0.995)

    def subset(self, idx: np.ndarray) -> Particles:
        return Particles(self.e0[idx], self.estar[idx], self.alpha[idx], self.A[idx],
                         self.B[idx], self.delta[idx], self.sigma[idx], self.d0, self.source)

    def width(self, level: float = 0.9) -> float:
        lo, hi = np.quantile(self.e0, [(1 - level) / 2, (1 + level) / 2])
        return float(hi - lo)


def table_arrays(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(loss, n_train, is_fewshot, value) of one task's observation rows."""
    fs = (rows["setting"] == "fewshot").to_numpy()
    n = rows["n_train"].astype(float).to_numpy()
    return (rows["loss"].to_numpy(dtype=float), np.where(fs, np.nan, n), fs,
            rows["value"].to_numpy(dtype=float))


def prior_particles(rows: pd.DataFrame, candidate_loss: np.ndarray, d0: float, n: int,
                    rng: np.random.Generator) -> Particles:
    """``n`` draws from the prior of the module docstring."""
    losses = np.concatenate([rows["loss"].to_numpy(dtype=float), candidate_loss])
    lo, hi = float(losses.min()), float(losses.max())
    e0 = rng.uniform(lo - PRIOR["e0_below"], hi, n)
    shift = rng.uniform(*PRIOR["shift"], n)
    alpha = rng.uniform(*PRIOR["alpha"], n)
    A = np.exp(rng.uniform(*np.log(PRIOR["A"]), n))
    chance = rows["chance"].to_numpy(dtype=float)
    fs = rows["setting"] == "fewshot"
    if np.isfinite(chance).any():
        b0 = float(np.nanmedian(chance))
    elif fs.any():
        b0 = float(rows.loc[fs, "value"].astype(float).mean())
    else:
        b0 = float(rows["value"].astype(float).min())
    B = b0 + rng.normal(0.0, PRIOR["B_sd"], n)
    delta = rng.normal(0.0, PRIOR["Delta_sd"], n)
    n_eval = rows["n_eval"].to_numpy(dtype=float)
    ne = float(np.nanmedian(n_eval)) if np.isfinite(n_eval).any() else 1000.0
    p = float(np.clip(b0, 0.01, 0.99))
    sub = np.exp(rng.uniform(*np.log(PRIOR["subset_sd"]), n))
    sigma = np.sqrt(p * (1 - p) / ne + sub**2)
    # E(D*) from E(D0) and the shift at 10^4 (= D*, so the shift is E(D*) - E(D0) directly)
    return Particles(e0, e0 + shift, alpha, A, B, delta, sigma, float(d0), "prior")


def _loglik(p: Particles, rows: pd.DataFrame) -> np.ndarray:
    loss, n_train, fs, value = table_arrays(rows)
    mu = p.mean(loss, np.nan_to_num(n_train, nan=1.0), fs)
    z = (value[None, :] - mu) / p.sigma[:, None]
    return -0.5 * np.sum(z * z, axis=1) - value.size * np.log(p.sigma)


def conditioned_prior(rows: pd.DataFrame, candidate_loss: np.ndarray, d0: float, n: int,
                      rng: np.random.Generator, n_prior: int = 40000) -> tuple[Particles, float]:
    """Prior draws importance-weighted by the current rows, resampled to ``n``; and the ESS."""
    prior = prior_particles(rows, candidate_loss, d0, n_prior, rng)
    ll = _loglik(prior, rows)
    w = np.exp(ll - ll.max())
    w /= w.sum()
    ess = float(1.0 / np.sum(w * w))
    if ess < n / 4:
        warnings.warn(f"the current rows leave only {ess:.0f} effective prior draws; the "
                      "design's picture of the current uncertainty is rough", DesignWarning,
                      stacklevel=3)
    idx = rng.choice(prior.n, size=n, replace=True, p=w)
    return prior.subset(idx), ess


def bootstrap_particles(rows: pd.DataFrame, task: str, d0: float, n: int, seed: int
                        ) -> Particles:
    """Parametric-bootstrap draws of the current fit (raises NotIdentifiableError if none)."""
    from emergence_law.fitting import EmergenceLaw
    from emergence_law.fitting.bootstrap import bootstrap_posterior
    from emergence_law.fitting.mle import fit_mle
    from emergence_law.fitting.model import ProfileModel, prepare_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        EmergenceLaw(posterior="none", d0=d0).fit(rows, task)   # identifiability checks
    data = prepare_data(rows, form="log_power", likelihood="gaussian")
    model = ProfileModel(data, form="log_power", d0=d0, likelihood="gaussian")
    mle = fit_mle(model)
    res = bootstrap_posterior(model, mle.theta, mle.beta, n_samples=n, seed=seed)
    th = res.theta
    beta, rss = model.solve(th)
    names = model.slope_names + model.const_names
    col = {k: beta[:, i] for i, k in enumerate(names)}
    dof = max(data.n - model.n_linear - 3, 1)
    sigma = np.sqrt(rss / dof)
    estar = model.law.elbows(th, np.array([D_STAR]))[:, 0]
    return Particles(th[:, 0].copy(), estar, th[:, 2].copy(), col["A"], col["B"],
                     col.get("Delta", np.zeros(len(th))), sigma, float(d0), "bootstrap")


def current_particles(rows: pd.DataFrame, task: str, candidate_loss: np.ndarray, d0: float,
                      n: int = 2000, seed: int = 0) -> Particles:
    """Bootstrap particles when the table identifies the law, else the conditioned prior."""
    ft = rows["setting"] == "finetune"
    if rows.loc[ft, "n_train"].nunique() >= MIN_LEVELS:
        try:
            return bootstrap_particles(rows, task, d0, n, seed)
        except NotIdentifiableError:
            pass
    return conditioned_prior(rows, candidate_loss, d0, n, np.random.default_rng(seed))[0]
