"""The expected 90% width of E(D0) after a batch: simulate the runs, refit, bootstrap.

For a design (the current rows plus the first k chosen runs) and ``n_tables`` plausible truths
drawn from the current particles: the new runs' values are drawn from each truth's law plus its
noise (the posterior predictive; the current rows keep their measured values); every simulated
table is refitted by maximum likelihood and its 90% interval is the parametric bootstrap's
(the project's default posterior, calibrated in docs/core.md), both with the batched machinery of
:mod:`emergence_law.fitting.bootstrap` (every table and every replicate of one design in one
batched fit). The expected width is the mean over the simulated tables.

A simulated table the estimator would refuse (no clear rise, every value risen, ...:
``EmergenceLaw``'s identifiability checks), or one with fewer than three data levels (where the
bootstrap width is an artefact of alpha's bounds, see ``particles.MIN_LEVELS``), yields no
forecast, so it counts with the current width (the uncertainty before the runs): the runs did
not help in that outcome.

The same truths and the same noise draws serve every prefix of one batch (common random
numbers), so the width curve along the batch is smooth and differences between prefixes are
not Monte Carlo noise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from emergence_law.design.particles import MIN_LEVELS, Particles, at_edge
from emergence_law.errors import NotIdentifiableError
from emergence_law.fitting.bootstrap import BatchedProfile
from emergence_law.fitting.estimator import MIN_LOGLIK_GAIN, EmergenceLaw
from emergence_law.fitting.mle import initial_grid, lm_polish
from emergence_law.fitting.model import ProfileModel, prepare_data


@dataclass
class Outcomes:
    """Simulated values of the candidate runs: ``values[m, c]`` under truth ``truth[m]``."""

    truth: np.ndarray           # (M,) particle indices
    values: np.ndarray          # (M, C)


def simulate_outcomes(p: Particles, cands: pd.DataFrame, n_tables: int,
                      rng: np.random.Generator) -> Outcomes:
    """Posterior-predictive values of every candidate run for ``n_tables`` truths."""
    truth = rng.choice(p.n, size=n_tables, replace=p.n < n_tables)
    sub = p.subset(truth)
    mu = sub.mean(cands["loss"].to_numpy(float), cands["n_train"].to_numpy(float),
                  np.zeros(len(cands), bool))
    y = mu + sub.sigma[:, None] * rng.standard_normal(mu.shape)
    return Outcomes(truth=truth, values=np.clip(y, 0.0, 1.0))


def candidate_rows(cands: pd.DataFrame, task: str, rows: pd.DataFrame) -> pd.DataFrame:
    """Candidates as observation rows (value filled in later)."""
    n_eval = rows["n_eval"].to_numpy(dtype=float)
    chance = rows["chance"].to_numpy(dtype=float)
    out = pd.DataFrame({
        "model": cands["model"].astype(str).to_numpy(),
        "checkpoint": cands["checkpoint"].astype(str).to_numpy(),
        "loss": cands["loss"].to_numpy(float), "task": task, "setting": "finetune",
        "value": np.nan, "n_train": cands["n_train"].to_numpy(float),
        "subset": cands["subset"].to_numpy(float), "method": cands["method"].astype(str),
        "n_eval": float(np.nanmedian(n_eval)) if np.isfinite(n_eval).any() else np.nan,
        "chance": float(np.nanmedian(chance)) if np.isfinite(chance).any() else np.nan,
        "shots": np.nan, "metric": rows["metric"].iloc[0] if len(rows) else "acc",
    })
    return out


def _fit_batch(model: ProfileModel, Y: np.ndarray, starts: np.ndarray, grid: np.ndarray
               ) -> tuple[BatchedProfile, np.ndarray, np.ndarray]:
    """MLE of every row of ``Y`` (values of one design): best of grid start and ``starts``."""
    bp = BatchedProfile(model, Y, np.ones_like(Y))
    g = bp.rss_grid(grid)
    t1, f1, _ = lm_polish(bp.residuals, grid[np.argmin(g, axis=0)], model.bounds)
    t2, f2, _ = lm_polish(bp.residuals, starts, model.bounds)
    better = f2 < f1
    return bp, np.where(better[:, None], t2, t1), np.where(better, f2, f1)


def design_width(rows: pd.DataFrame, new_rows: pd.DataFrame, new_values: np.ndarray,
                 truths: Particles, task: str, d0: float, current_width: float, *,
                 n_boot: int = 40, level: float = 0.9, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """90% widths (M,) after adding ``new_rows`` with simulated ``new_values`` (M, k),
    whether each simulated table was identifiable (M,), and whether its refit is a bound
    (M,): the MLE of E(D0) at the search range's edge or at the few-shot rows' least loss
    (``particles.at_edge``; the width is then the bootstrap's raw width, which the caller
    scores, see ``planner.score_tables``)."""
    M = new_values.shape[0]
    design = pd.concat([rows, new_rows], ignore_index=True)
    design["value"] = np.concatenate([rows["value"].to_numpy(float), new_values[0]])
    widths = np.full(M, current_width)
    ok = np.zeros(M, bool)
    edge = np.zeros(M, bool)
    ft = design["setting"] == "finetune"
    if design.loc[ft, "n_train"].nunique() < MIN_LEVELS:
        return widths, ok, edge
    data = prepare_data(design, form="log_power", likelihood="gaussian")
    model = ProfileModel(data, form="log_power", d0=d0, likelihood="gaussian")
    Y = np.concatenate([np.broadcast_to(rows["value"].to_numpy(float), (M, len(rows))),
                        new_values], axis=1)
    grid = initial_grid(model, n_e=11, n_alpha=7)
    truth_theta = np.stack([truths.e0, truths.law.elbows(truths.theta(),
                                                          np.array([model.law.d_ref]))[:, 0],
                            truths.alpha], axis=1)
    bp, theta, rss = _fit_batch(model, Y, np.clip(truth_theta, model.bounds[:, 0],
                                                   model.bounds[:, 1]), grid)
    n = data.n
    gain = 0.5 * n * np.log(bp.flat_rss / np.maximum(rss, 1e-300))
    law = EmergenceLaw(posterior="none", d0=d0)
    for m in range(M):
        if gain[m] < MIN_LOGLIK_GAIN:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                law._check_data(replace(data, value=Y[m]), task)
        except NotIdentifiableError:
            continue
        ok[m] = True
    if not ok.any():
        return widths, ok, edge
    idx = np.flatnonzero(ok)
    edge[idx] = at_edge(model, theta[idx, 0]) != ""
    A, consts, rss_ok = bp.solve_pairs(theta[idx], idx)
    R = np.maximum(model.elbows(theta[idx])[:, data.level] - data.loss[None, :], 0.0)
    fitted = A[:, None] * R + consts @ bp.C.T
    sigma = np.sqrt(rss_ok / max(n - model.n_linear - 3, 1))
    Yb = (np.repeat(fitted, n_boot, axis=0)
          + np.repeat(sigma, n_boot)[:, None] * rng.standard_normal((idx.size * n_boot, n)))
    _, tb, _ = _fit_batch(model, Yb, np.repeat(theta[idx], n_boot, axis=0), grid)
    e0 = tb[:, 0].reshape(idx.size, n_boot)
    q = np.quantile(e0, [(1 - level) / 2, (1 + level) / 2], axis=1)
    widths[idx] = q[1] - q[0]
    return widths, ok, edge
