"""The two-step baseline (Llama 3 report; OLMo model ladders): loss -> task NLL -> accuracy.

Why it is here: users will ask whether finetuning data buys anything over the usual recipe, so
the backtest runs both predictors on the same rows. This baseline uses **no finetuning data**:

1. task negative log-likelihood of the correct answer as a power law of pretraining loss,
   ``NLL = c * L^gamma`` (a straight line in log-log, ordinary least squares);
2. accuracy as a sigmoid of the task NLL, ``acc = floor + (ceiling - floor) * sigmoid((m - NLL)/s)``
   with ``floor`` the chance level (fitted when the table has none) and ``ceiling`` 1 by default,
   fitted by least squares from a grid of starts.

Its predicted emergence point is the elbow of the composed curve acc(L), defined as the ReLU's
elbow is: the loss where the tangent at the steepest point meets the floor. Uncertainty comes
from a bootstrap over checkpoints (both steps refitted on each resample).

The task NLL comes from a continuous metric in the same table: ``nll`` (or ``bpb``, ``loss``) is
used as is; ``logprob`` and friends (log-probability of the correct answer, higher is better)
are negated.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import expit

from emergence_law.analysis.checkpoints import checkpoint_keys
from emergence_law.errors import DataError, NotIdentifiableError, SettingError
from emergence_law.observations import load_observations, select_task

#: metrics that are a task loss (lower is better) or a log-probability (higher is better)
NLL_METRICS = ("nll", "task_nll", "bpb", "task_loss")
LOGPROB_METRICS = ("logprob", "log_prob", "loglik", "logprob_correct", "logprob_norm")


def find_nll_metric(rows: pd.DataFrame, requested: str | None = None) -> tuple[str, float]:
    """The continuous metric to use as task NLL and its sign (+1 for NLL, -1 for log-prob)."""
    have = set(rows.loc[rows["setting"] == "fewshot", "metric"].dropna())
    if requested is not None:
        if requested not in have:
            raise SettingError("nll_metric", f"metric {requested!r} has no few-shot rows "
                               f"(metrics: {', '.join(sorted(have)) or 'none'})")
        return requested, (-1.0 if requested in LOGPROB_METRICS else 1.0)
    for m in NLL_METRICS:
        if m in have:
            return m, 1.0
    for m in LOGPROB_METRICS:
        if m in have:
            return m, -1.0
    raise SettingError("nll_metric", "the two-step baseline needs a continuous few-shot metric "
                       f"for the task (one of {', '.join(NLL_METRICS + LOGPROB_METRICS)}); "
                       f"found {', '.join(sorted(have)) or 'none'}")


@dataclass
class TwoStepFit:
    """Fitted two-step predictor; the same reporting surface as an emergence-law fit."""

    task: str
    params: dict[str, float]
    emergence_point_mle: float
    emergence_samples: np.ndarray | None
    n_checkpoints: int
    nll_metric: str
    warnings: list[str] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def task_nll(self, loss: Any) -> np.ndarray:
        return self.params["c"] * np.asarray(loss, dtype=float) ** self.params["gamma"]

    def predict(self, loss: Any) -> np.ndarray:
        """Predicted few-shot accuracy at pretraining ``loss`` (step 1 then step 2)."""
        p = self.params
        return p["floor"] + (p["ceiling"] - p["floor"]) * expit(
            (p["m"] - self.task_nll(loss)) / p["s"])

    @property
    def percentiles(self) -> dict[str, float] | None:
        s = self.emergence_samples
        if s is None or len(s) == 0:
            return None
        qs = (5, 10, 25, 50, 75, 90, 95)
        return {str(q): float(v) for q, v in zip(qs, np.percentile(s, qs), strict=True)}

    def to_dict(self) -> dict[str, Any]:
        return {"method": "two_step", "task": self.task, "params": dict(self.params),
                "emergence_point": {"mle": self.emergence_point_mle,
                                    "percentiles": self.percentiles},
                "n_checkpoints": self.n_checkpoints, "nll_metric": self.nll_metric,
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        p = self.params
        pct = self.percentiles
        band = f" [5-95%: {pct['5']:.3f}, {pct['95']:.3f}]" if pct else ""
        return (f"Two-step baseline, task {self.task!r} ({self.n_checkpoints} checkpoints): "
                f"NLL = {p['c']:.3g} L^{p['gamma']:.3g}; acc = {p['floor']:.3g} + "
                f"{p['ceiling'] - p['floor']:.3g} sigmoid(({p['m']:.3g} - NLL)/{p['s']:.3g}); "
                f"emergence point {self.emergence_point_mle:.3f} nats{band}")


def _fit_step1(loss: np.ndarray, nll: np.ndarray) -> tuple[float, float]:
    """log NLL = log c + gamma log L by ordinary least squares."""
    X = np.column_stack([np.ones_like(loss), np.log(loss)])
    coef, *_ = np.linalg.lstsq(X, np.log(nll), rcond=None)
    return float(np.exp(coef[0])), float(coef[1])


def _fit_step2(nll: np.ndarray, acc: np.ndarray, floor: float | None, ceiling: float,
               start: dict[str, float] | None = None) -> tuple[float, float, float]:
    """(m, s, floor) of the sigmoid by least squares from a grid of starts (or from ``start``,
    the full-data optimum, when refitting a bootstrap resample)."""
    lo, hi = float(nll.min()), float(nll.max())
    span = max(hi - lo, 1e-3)
    fit_floor = floor is None
    f0 = float(np.quantile(acc, 0.1)) if fit_floor else float(floor)

    def resid(p):
        fl = p[2] if fit_floor else f0
        return fl + (ceiling - fl) * expit((p[0] - nll) / np.exp(p[1])) - acc

    lb = np.array([lo - 20 * span, np.log(1e-4 * span)] + ([0.0] if fit_floor else []))
    ub = np.array([hi + 20 * span, np.log(20 * span)] + ([ceiling] if fit_floor else []))
    if start is not None:
        starts = [[start["m"], np.log(start["s"])] + ([start["floor"]] if fit_floor else [])]
    else:
        starts = [[m0, ls0] + ([f0] if fit_floor else [])
                  for m0 in np.linspace(lo - 2 * span, hi, 7)
                  for ls0 in np.log([0.05 * span, 0.3 * span, span])]
    best = None
    for x0 in starts:
        r = least_squares(resid, np.clip(x0, lb + 1e-9, ub - 1e-9), bounds=(lb, ub))
        if best is None or r.cost < best.cost:
            best = r
    assert best is not None
    p = best.x
    return float(p[0]), float(np.exp(p[1])), float(p[2] if fit_floor else f0)


def composed_elbow(params: dict[str, float], loss_range: tuple[float, float]) -> tuple[float, bool]:
    """Elbow of acc(L): tangent at the steepest point meets the floor. Also whether the
    steepest point lies inside the searched loss range (else the rise is beyond it)."""
    lo, hi = loss_range
    grid = np.linspace(lo, hi, 4001)
    p = params
    acc = p["floor"] + (p["ceiling"] - p["floor"]) * expit(
        (p["m"] - p["c"] * grid ** p["gamma"]) / p["s"])
    slope = -np.gradient(acc, grid)  # rise as loss falls
    i = int(np.argmax(slope))
    if slope[i] <= 0:
        return float(lo), False
    elbow = grid[i] + (acc[i] - p["floor"]) / slope[i]
    # the steepest point at (or next to) an end of the range: the rise itself is not seen
    # (or the tangent meets the floor at the range's low end)
    seen = 2 <= i < len(grid) - 2 and elbow > lo + 1e-3 * (hi - lo)
    return float(elbow), seen


class TwoStepBaseline:
    """Estimator for the two-step baseline; ``fit(obs, task)`` -> :class:`TwoStepFit`.

    ``posterior``: ``bootstrap`` (resample checkpoints ``n_samples`` times) or ``none``.
    """

    def __init__(self, nll_metric: str | None = None, posterior: str = "bootstrap",
                 n_samples: int = 200, ceiling: float = 1.0, seed: int = 0) -> None:
        if posterior not in ("bootstrap", "none", "mcmc"):
            raise SettingError("posterior", f"unknown posterior {posterior!r}")
        self.nll_metric = nll_metric
        self.posterior = "none" if posterior == "none" else "bootstrap"
        self.n_samples = int(n_samples)
        self.ceiling = float(ceiling)
        self.seed = int(seed)

    def _pairs(self, rows: pd.DataFrame, acc_metric: str, nll_metric: str, sign: float,
               ) -> pd.DataFrame:
        fs = rows[rows["setting"] == "fewshot"].copy()
        fs["_key"] = checkpoint_keys(fs).to_numpy()
        acc = fs[fs["metric"] == acc_metric].groupby("_key").agg(
            loss=("loss", "mean"), acc=("value", "mean"), chance=("chance", "median"))
        nll = fs[fs["metric"] == nll_metric].groupby("_key").agg(nll=("value", "mean"))
        both = acc.join(nll, how="inner")
        both["nll"] = sign * both["nll"]
        if (both["nll"] <= 0).any():
            raise DataError(f"task NLL from metric {nll_metric!r} must be positive "
                            "(a log-probability must be negative)", column="value")
        return both.reset_index()

    def fit(self, observations: pd.DataFrame, task: str, *, metric: str | None = None,
            min_loss: float | None = None, series: str | None = None) -> TwoStepFit:
        obs = load_observations(observations)
        # few-shot rows only: finetuned rows (of whatever method) play no part in this
        # baseline, and a table with several finetuning methods must not make it fail
        obs = obs[obs["setting"] == "fewshot"]
        sel = select_task(obs, task, metric=metric, series=series)
        acc_metric = str(sel.rows["metric"].iloc[0])
        all_rows = obs[obs["task"] == task]
        if series is not None:
            all_rows = all_rows[all_rows["series"] == series]
        if min_loss is not None:
            all_rows = all_rows[all_rows["loss"] >= min_loss]
        nll_metric, sign = find_nll_metric(all_rows, self.nll_metric)
        data = self._pairs(all_rows, acc_metric, nll_metric, sign)
        if len(data) < 4:
            raise NotIdentifiableError(f"task {task!r}: the two-step baseline needs at least 4 "
                                       f"checkpoints with both {acc_metric} and {nll_metric}; "
                                       f"found {len(data)}")
        chance = data["chance"].median()
        floor = None if not np.isfinite(chance) else float(chance)
        loss, nll, acc = (data[c].to_numpy(dtype=float) for c in ("loss", "nll", "acc"))
        lrange = (max(0.25 * loss.min(), loss.min() - 2.0), float(loss.max()))
        params, elbow, inside = self._fit_once(loss, nll, acc, floor, lrange)
        notes = []
        if not inside:
            notes.append("the fitted accuracy curve has no steepest point within "
                         f"[{lrange[0]:.3g}, {lrange[1]:.3g}] nats: its rise is not seen")
        samples = None
        if self.posterior == "bootstrap":
            rng = np.random.default_rng(self.seed)
            draws = []
            for _ in range(self.n_samples):
                idx = rng.integers(0, len(loss), len(loss))
                if len(np.unique(loss[idx])) < 3:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _, e, _ = self._fit_once(loss[idx], nll[idx], acc[idx], floor, lrange,
                                             start=params)
                draws.append(e)
            samples = np.array(draws)
        for n in notes:
            warnings.warn(n, UserWarning, stacklevel=2)
        return TwoStepFit(task=task, params=params, emergence_point_mle=elbow,
                          emergence_samples=samples, n_checkpoints=len(data),
                          nll_metric=nll_metric, warnings=notes,
                          diagnostics={"rise_seen": float(inside)})

    def _fit_once(self, loss, nll, acc, floor, lrange, start=None):
        c, gamma = _fit_step1(loss, nll)
        m, s, fl = _fit_step2(nll, acc, floor, self.ceiling, start)
        params = {"c": c, "gamma": gamma, "m": m, "s": s, "floor": fl, "ceiling": self.ceiling}
        elbow, inside = composed_elbow(params, lrange)
        return params, elbow, inside
