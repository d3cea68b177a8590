"""The ground-truth few-shot emergence point: a ReLU fitted to the few-shot rows of ALL checkpoints.

This is how the paper scores predictions (|MLE - GT| <= 0.1 nats is a success). The elbow is
found by profiling the least-squares ReLU over a fine grid of elbows (A and B in closed form,
A >= 0, Gaussian noise with sigma profiled out); its uncertainty is the profile-likelihood
interval (likelihood-ratio test with one degree of freedom), which, unlike a curvature-based
standard error, stays honest when the elbow sits between two sparse checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.stats import chi2, norm

from emergence_law.errors import NotIdentifiableError
from emergence_law.observations import load_observations, select_task

MIN_LOGLIK_GAIN = 5.0


@dataclass
class GroundTruth:
    """Elbow of the few-shot ReLU, its profile-likelihood interval and the fitted line."""

    task: str
    elbow: float
    interval: tuple[float, float]
    se: float
    params: dict[str, float]
    level: float = 0.95
    n_rows: int = 0
    shots: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "elbow": self.elbow, "interval": list(self.interval),
                "se": self.se, "params": dict(self.params), "level": self.level,
                "n_rows": self.n_rows, "shots": list(self.shots)}


def _profile_rss(E: np.ndarray, loss: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """RSS, A, B of ``y ~ B + A relu(E - loss)`` (A >= 0) for each elbow in ``E``."""
    R = np.maximum(np.asarray(E)[:, None] - loss[None, :], 0.0)
    n = len(y)
    ybar = y.mean()
    Rbar = R.mean(axis=1)
    Sxx = np.einsum("gn,gn->g", R, R) - n * Rbar**2
    Sxy = R @ y - n * Rbar * ybar
    ok = (Sxx > 1e-14) & (Sxy > 0)
    A = np.where(ok, Sxy / np.where(ok, Sxx, 1.0), 0.0)
    B = ybar - A * Rbar
    syy = float(np.sum((y - ybar) ** 2))
    rss = syy - np.where(ok, A * Sxy, 0.0)
    return np.maximum(rss, 1e-300), A, B


def ground_truth_emergence(obs: pd.DataFrame, task: str, *, metric: str | None = None,
                           series: str | None = None, level: float = 0.95) -> GroundTruth:
    """Fit ``B + A ReLU(E - loss)`` to every few-shot row of ``task``; return E with uncertainty.

    Raises :class:`NotIdentifiableError` when the few-shot rows never rise (the capability has
    not emerged in the data, so there is no ground truth yet) or when they never sit at a flat
    base (every checkpoint is already past the elbow).
    """
    obs = load_observations(obs)
    # few-shot rows only: the finetuned rows (of any method) play no part in the ground truth
    sel = select_task(obs[obs["setting"] == "fewshot"], task, metric=metric, series=series)
    fs = sel.fewshot
    if len(fs) < 4:
        raise NotIdentifiableError(f"task {task!r}: {len(fs)} few-shot rows; the ground-truth "
                                   "ReLU needs at least 4")
    loss = fs["loss"].to_numpy(dtype=float)
    y = fs["value"].to_numpy(dtype=float)
    n = len(y)
    lo, hi = float(loss.min()), float(loss.max())
    grid = np.linspace(lo, hi, 801)
    rss, _, _ = _profile_rss(grid, loss, y)
    i = int(np.argmin(rss))
    left, right = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = minimize_scalar(lambda e: float(_profile_rss(np.array([e]), loss, y)[0][0]),
                          bounds=(left, right), method="bounded",
                          options={"xatol": 1e-7})
    E = float(res.x) if res.fun <= rss[i] else float(grid[i])
    rss_min, A, B = (float(v[0]) for v in _profile_rss(np.array([E]), loss, y))
    flat = float(np.sum((y - y.mean()) ** 2))
    gain = 0.5 * n * np.log(flat / rss_min)
    if gain < MIN_LOGLIK_GAIN:
        raise NotIdentifiableError(
            f"task {task!r}: the few-shot rows never rise clearly (log-likelihood gain "
            f"{gain:.2f} over a flat line): the capability has not emerged in these checkpoints")
    if hi - E <= 1e-9:
        raise NotIdentifiableError(
            f"task {task!r}: the few-shot rows rise from the weakest checkpoint on (elbow at or "
            f"beyond loss {hi:.3f}); no flat pre-emergence base to locate the elbow")
    # profile-likelihood interval: 2 * (ll_max - ll(E)) <= chi2_1(level)
    crit = chi2.ppf(level, 1)
    fine = np.linspace(lo, hi, 4001)
    ll = -0.5 * n * np.log(_profile_rss(fine, loss, y)[0])
    ll_max = -0.5 * n * np.log(rss_min)
    inside = fine[2.0 * (ll_max - ll) <= crit]
    ivl = (float(min(inside.min(), E)), float(max(inside.max(), E))) if inside.size else (E, E)
    se = (ivl[1] - ivl[0]) / (2.0 * norm.ppf(0.5 + level / 2.0))
    shots = sorted(int(s) for s in fs["shots"].dropna().unique())
    return GroundTruth(task=task, elbow=E, interval=ivl, se=float(se),
                       params={"A": A, "B": B, "E": E, "sigma": float(np.sqrt(rss_min / n))},
                       level=level, n_rows=n, shots=shots)
