"""What we believe about the law now: a cloud of full parameter vectors ("particles").

Each particle is one plausible truth ``(E(D0), E(D*), alpha, A, B, Delta, sigma)`` with
``D* = 10^4`` a fixed anchor (so particles do not depend on which data levels a design has).
They are draws from the posterior under the prior below given the current rows (few-shot
and finetuned), by an emcee ensemble started at the best of many prior draws. Why not the
bootstrap of the current fit: with a pilot whose finetuned rows have all risen, the fit
cannot separate B from A and Delta, and its replicates put the chance level anywhere
(measured: B from -0.58 to 0.24 at chance 0.25), so outcomes simulated from them are
impossible tables; the prior keeps B at chance and Delta near 0, as the paper found.

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
from typing import Any

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
    source: str                      # "prior", "posterior" or "bootstrap"

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


def _loglik(p: Particles, arrays: tuple[np.ndarray, ...]) -> np.ndarray:
    loss, n_train, fs, value = arrays
    mu = p.mean(loss, np.nan_to_num(n_train, nan=1.0), fs)
    z = (value[None, :] - mu) / p.sigma[:, None]
    return -0.5 * np.sum(z * z, axis=1) - value.size * np.log(p.sigma)


class _Posterior:
    """Log posterior of the prior above and the Gaussian likelihood of the current rows, on
    ``u = (E(D0), shift, alpha, log A, B, Delta, log subset_sd)``; vectorised over walkers."""

    def __init__(self, rows: pd.DataFrame, prior: Particles, lo: float, hi: float,
                 b0: float, binom_var: float) -> None:
        self.arrays = table_arrays(rows)
        self.d0, self.b0, self.bv = prior.d0, b0, binom_var
        self.box = np.array([[lo - PRIOR["e0_below"], hi], PRIOR["shift"], PRIOR["alpha"],
                             np.log(PRIOR["A"]), [-np.inf, np.inf], [-np.inf, np.inf],
                             np.log(PRIOR["subset_sd"])])

    def particles(self, u: np.ndarray) -> Particles:
        sigma = np.sqrt(self.bv + np.exp(2 * u[:, 6]))
        return Particles(u[:, 0], u[:, 0] + u[:, 1], u[:, 2], np.exp(u[:, 3]), u[:, 4],
                         u[:, 5], sigma, self.d0, "posterior")

    def to_u(self, p: Particles) -> np.ndarray:
        sub = np.sqrt(np.maximum(p.sigma**2 - self.bv, 1e-12))
        return np.stack([p.e0, p.estar - p.e0, p.alpha, np.log(p.A), p.B, p.delta,
                         np.log(sub)], axis=1)

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.atleast_2d(u)
        ok = np.all((u >= self.box[:, 0]) & (u <= self.box[:, 1]), axis=1)
        out = np.full(len(u), -np.inf)
        if ok.any():
            v = u[ok]
            lp = (-0.5 * ((v[:, 4] - self.b0) / PRIOR["B_sd"]) ** 2
                  - 0.5 * (v[:, 5] / PRIOR["Delta_sd"]) ** 2)
            out[ok] = lp + _loglik(self.particles(v), self.arrays)
        return out


def conditioned_prior(rows: pd.DataFrame, candidate_loss: np.ndarray, d0: float, n: int,
                      rng: np.random.Generator, n_prior: int = 20000, walkers: int = 32,
                      burn: int = 1000, steps: int = 750) -> tuple[Particles, float]:
    """Posterior draws under the prior above given the current rows; and the acceptance.

    Importance weighting of prior draws alone collapses as soon as a few finetuned runs rise
    (measured: 2-8 effective draws of 40000-200000 for a 15-run pilot), so the best prior draws
    only start an emcee ensemble (differential-evolution moves, vectorised over walkers)."""
    import emcee

    prior = prior_particles(rows, candidate_loss, d0, n_prior, rng)
    losses = np.concatenate([rows["loss"].to_numpy(dtype=float), candidate_loss])
    post = _Posterior(rows, prior, float(losses.min()), float(losses.max()), float(
        np.median(prior.B)), float(np.min(prior.sigma) ** 2 - PRIOR["subset_sd"][0] ** 2))
    u0 = post.to_u(prior)
    lp = post(u0)
    top = np.argsort(lp)[::-1][:walkers]
    spread = np.std(u0, axis=0) * 0.01
    start = u0[top] + rng.normal(0.0, 1.0, (walkers, 7)) * spread
    start = np.clip(start, post.box[:, 0] + 1e-9, post.box[:, 1] - 1e-9)
    sampler = emcee.EnsembleSampler(
        walkers, 7, post, vectorize=True,
        moves=[(emcee.moves.DEMove(), 0.9), (emcee.moves.DESnookerMove(), 0.1)])
    # reproducible through emcee's public API: the sampler's generator comes with the state
    seeded = np.random.RandomState(int(rng.integers(2**31))).get_state()
    thin = max(1, walkers * steps // n)
    with np.errstate(all="ignore"):
        sampler.run_mcmc(emcee.State(start, random_state=seeded), burn + steps, progress=False)
    chain = sampler.get_chain(discard=burn, thin=thin, flat=True)
    idx = rng.choice(len(chain), size=n, replace=len(chain) < n)
    acc = float(np.mean(sampler.acceptance_fraction))
    if acc < 0.05:
        warnings.warn(f"the design's posterior sampler accepted {acc:.1%} of moves; its "
                      "picture of the current uncertainty is rough", DesignWarning, stacklevel=3)
    return post.particles(chain[idx]), acc


def bootstrap_particles(rows: pd.DataFrame, task: str, d0: float, n: int, seed: int
                        ) -> Particles:
    """Parametric-bootstrap draws of the current fit (raises NotIdentifiableError if none)."""
    return _bootstrap_fit(rows, task, d0, n, seed)[0]


def _bootstrap_fit(rows: pd.DataFrame, task: str, d0: float, n: int, seed: int
                   ) -> tuple[Particles, str | None]:
    """The current fit's bootstrap particles and why its width is no fair bar (None: it is)."""
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
    why = _untrusted(model, mle.theta, th[:, 0], res.diagnostics.get("fraction_at_bounds"))
    beta, rss = model.solve(th)
    names = model.slope_names + model.const_names
    col = {k: beta[:, i] for i, k in enumerate(names)}
    dof = max(data.n - model.n_linear - 3, 1)
    sigma = np.sqrt(rss / dof)
    estar = model.law.elbows(th, np.array([D_STAR]))[:, 0]
    return Particles(th[:, 0].copy(), estar, th[:, 2].copy(), col["A"], col["B"],
                     col.get("Delta", np.zeros(len(th))), sigma, float(d0), "bootstrap"), why


def at_edge(model: Any, e0_mle: np.ndarray) -> np.ndarray:
    """Where each MLE of E(D0) sits: "bound" (the search range's edge), "data" (within
    ``EDGE_NATS`` of the few-shot rows' least loss) or "" (inside): the fit's own
    "a bound, not an estimate" flags (``EmergenceLaw._fit_notes``), vectorised so the design
    can apply them to every simulated refit as well as to the current fit."""
    from emergence_law.fitting import at_data_edge

    e0 = np.asarray(e0_mle, dtype=float)
    b = model.bounds
    out = np.full(e0.shape, "", dtype=object)
    if model.has_fewshot:
        fs_min = float(model.data.loss[model.data.is_fewshot].min())
        out[at_data_edge(e0, fs_min)] = "data"
    out[(e0 <= b[0, 0] + 1e-3) | (e0 >= b[0, 1] - 1e-3)] = "bound"
    return out


def _untrusted(model: Any, theta: np.ndarray, e0: np.ndarray,
               fraction_at_bounds: float | None) -> str | None:
    """Why the current fit's interval is no fair bar for a batch, or None.

    The fit's own flags (see ``EmergenceLaw._fit_notes`` and ``diagnostics.check_point_mass``):
    an MLE of E(D0) at its search bound or at the few-shot rows' edge is a bound, not an
    estimate, and a bootstrap piled on one value has percentiles that understate the
    uncertainty. Measured on the lab's LoRA pilot (issue 15): MLE 2.81 at the bound, width
    0.24, the truth 1.877 outside; held to that width, no batch was recommended at any budget.
    """
    from emergence_law.fitting.diagnostics import point_mass

    b = model.bounds
    edge = at_edge(model, np.array([theta[0]]))[0]
    if edge == "bound":
        return (f"its MLE of E(D0) = {theta[0]:.3f} sits at the edge of the search range "
                f"[{b[0, 0]:.3f}, {b[0, 1]:.3f}]")
    if edge == "data":
        fs_min = float(model.data.loss[model.data.is_fewshot].min())
        return (f"its MLE of E(D0) = {theta[0]:.3f} sits at the few-shot rows' least loss "
                f"({fs_min:.3f}): a bound, not an estimate")
    pm = point_mass(e0)
    if pm is not None:
        return f"{pm[1]:.0%} of its bootstrap draws of E(D0) sit at {pm[0]:.3f} (a point mass)"
    if fraction_at_bounds is not None and fraction_at_bounds > 0.5:
        return f"{fraction_at_bounds:.0%} of its bootstrap replicates have a parameter at a bound"
    return None


def current_particles(rows: pd.DataFrame, task: str, candidate_loss: np.ndarray, d0: float,
                      n: int = 2000, seed: int = 0) -> Particles:
    """Posterior draws of the law under the paper-range prior, given the current rows."""
    return conditioned_prior(rows, candidate_loss, d0, n, np.random.default_rng(seed))[0]


def current_fit_width(rows: pd.DataFrame, task: str, d0: float, n: int = 1000, seed: int = 0,
                      level: float = 0.9) -> float | None:
    """The 90% width ``emergence-law fit`` reports now (parametric bootstrap), or None when
    it is no fair bar for a batch (see :func:`current_fit_bar`)."""
    return current_fit_bar(rows, task, d0, n, seed, level)[0]


def current_fit_bar(rows: pd.DataFrame, task: str, d0: float, n: int = 1000, seed: int = 0,
                    level: float = 0.9) -> tuple[float | None, str | None]:
    """``(width, None)``: the 90% width the current fit reports, a fair bar a batch must beat;
    ``(None, why)`` when it is not (the design then starts as cold): fewer than ``MIN_LEVELS``
    data levels, the estimator refuses the table, the MLE of E(D0) is at a bound or at the
    data's edge, or the bootstrap is a point mass (:func:`_untrusted`)."""
    ft = rows["setting"] == "finetune"
    levels = rows.loc[ft, "n_train"].nunique()
    if levels < MIN_LEVELS:
        return None, f"the table has {levels} finetuned data level(s), fewer than {MIN_LEVELS}"
    try:
        p, why = _bootstrap_fit(rows, task, d0, n, seed)
    except NotIdentifiableError as exc:
        return None, f"the estimator refuses it ({str(exc).splitlines()[0][:120]})"
    if why is not None:
        return None, why
    return p.width(level), None
