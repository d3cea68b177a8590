"""The task scaling law ``PU(N) = exp(-c N^-alpha)``, fitted at three levels, and predictions.

* ``dataset``: the paper's dataset level. Per model, the task mean pass rate (unbiased
  per-instance estimates) with a bootstrap standard error over instances; a weighted straight
  line through ``log(-log PU)`` against ``log N``; a t interval (residual scale, n - 2 degrees of
  freedom). A model whose mean is 0 cannot be placed on the log(-log) scale and is left out (and
  listed). Misspecified when instances differ: a mean of such curves is not such a curve.
* ``instance``: independent per-instance lines by binomial maximum likelihood on the counts
  (zeros and censored cells kept), with a very weak ridge (sd 10) only so that instances that
  never pass have a finite optimum. Prediction: the mean of the instances' predicted pass
  rates; interval by drawing each instance's line from its Laplace posterior.
* ``pooled`` (default): the hierarchical fit of :mod:`emergence_law.passuntil.pooled`.

Use :class:`TaskScalingLaw` (configure, ``fit(counts)``, then ``predict(N)``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from emergence_law.errors import DataError, NotIdentifiableError, OptionError
from emergence_law.passuntil.estimate import task_estimate
from emergence_law.passuntil.likelihood import CountsGrid, instance_newton, pass_rate
from emergence_law.passuntil.pooled import PooledState, fit_pooled, pooled_draws

LEVELS = ("pooled", "instance", "dataset")


@dataclass
class LawPrediction:
    """A predicted task pass rate at ``target_params`` with its interval."""

    target_params: float
    predicted_pass_rate: float
    interval: list[float]
    level: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lo, hi = self.interval
        return (f"predicted pass rate at N = {self.target_params:.4g}: "
                f"{self.predicted_pass_rate:.4g} ({self.confidence:.0%} interval {lo:.4g} - "
                f"{hi:.4g}; {self.level} fit)")


@dataclass
class TaskPoints:
    """Task-level pass rate per model: what the dataset-level fit uses and the plot shows."""

    models: list[str]
    params: np.ndarray
    pass_rate: np.ndarray
    se: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def y(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(-np.log(self.pass_rate))

    @property
    def y_se(self) -> np.ndarray:
        """Delta-method standard error of log(-log PU)."""
        p = self.pass_rate
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.se / np.abs(p * np.log(p))


def task_points(grid: CountsGrid, level: float = 0.68, seed: int = 0) -> TaskPoints:
    """Per-model task mean (unbiased estimator) and its bootstrap spread over instances."""
    rates, ses, los, his = [], [], [], []
    for j in range(len(grid.models)):
        have = grid.trials[:, j] > 0
        est = task_estimate(grid.trials[have, j], grid.passes[have, j], grid.censored[have, j],
                            level=level, seed=seed)
        rates.append(est.mean)
        los.append(est.lower)
        his.append(est.upper)
        ses.append(max((est.upper - est.lower) / 2, 1e-12))
    return TaskPoints(list(grid.models), grid.params.copy(), np.array(rates), np.array(ses),
                      np.array(los), np.array(his))


@dataclass
class TaskScalingLaw:
    """Fit ``PU(N) = exp(-c N^-alpha)`` to PassUntil counts and predict larger models.

    Parameters: ``level`` (pooled, instance or dataset), ``confidence`` of the intervals,
    ``n_draws`` posterior draws for the instance-level intervals, ``seed``.
    Fitted attributes: ``grid_``, ``points_``, ``c_``, ``alpha_`` (the task-level line: for the
    instance levels, the population mean line), ``instance_params_`` (per-instance c, alpha),
    ``dropped_`` (dataset level: models left out).
    """

    level: str = "pooled"
    confidence: float = 0.9
    n_draws: int = 400
    seed: int = 0
    grid_: CountsGrid | None = field(default=None, init=False, repr=False)
    points_: TaskPoints | None = field(default=None, init=False, repr=False)
    c_: float = field(default=float("nan"), init=False)
    alpha_: float = field(default=float("nan"), init=False)
    instance_params_: pd.DataFrame | None = field(default=None, init=False, repr=False)
    dropped_: list[str] = field(default_factory=list, init=False)
    _line: Any = field(default=None, init=False, repr=False)
    _pooled: PooledState | None = field(default=None, init=False, repr=False)
    _modes: np.ndarray | None = field(default=None, init=False, repr=False)
    _hess: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise OptionError("--level", f"unknown level {self.level!r} (choose from "
                              f"{', '.join(LEVELS)})")
        if not 0 < self.confidence < 1:
            raise OptionError("--confidence", f"must lie in (0, 1), got {self.confidence}")
        if self.n_draws < 20:
            raise OptionError("--draws", f"need at least 20 draws for an interval, got "
                              f"{self.n_draws}")

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, counts: pd.DataFrame | CountsGrid, source: str = "counts") -> TaskScalingLaw:
        grid = counts if isinstance(counts, CountsGrid) else CountsGrid.from_counts(counts, source)
        self.grid_ = grid
        self.points_ = task_points(grid, seed=self.seed)
        if self.level == "dataset":
            self._fit_dataset(source)
        elif self.level == "instance":
            x = grid.x - grid.x0
            prec = np.eye(2) / 100.0
            self._modes, self._hess, _ = instance_newton(grid.trials, grid.passes, x,
                                                         np.zeros(2), prec)
            self._set_instance_params(self._modes)
            a, b = np.median(self._modes, axis=0)
            self._set_line(a, b)
        else:
            self._pooled = fit_pooled(grid)
            self._modes, self._hess = self._pooled.modes, self._pooled.hessians
            self._set_instance_params(self._modes)
            self._set_line(*self._pooled.theta[:2])
        return self

    def _set_line(self, a: float, b: float) -> None:
        x0 = self.grid_.x0
        self.alpha_ = float(-b)
        self.c_ = float(np.exp(a - b * x0))

    def _set_instance_params(self, modes: np.ndarray) -> None:
        x0 = self.grid_.x0
        self.instance_params_ = pd.DataFrame({
            "instance": self.grid_.instances,
            "c": np.exp(modes[:, 0] - modes[:, 1] * x0),
            "alpha": -modes[:, 1],
        })

    def _fit_dataset(self, source: str) -> None:
        pts = self.points_
        ok = (pts.pass_rate > 0) & (pts.pass_rate < 1)
        self.dropped_ = [m for m, k in zip(pts.models, ok, strict=True) if not k]
        if ok.sum() < 2:
            raise NotIdentifiableError(
                f"{source}: the dataset-level fit needs at least two models with a task pass rate "
                f"strictly between 0 and 1 (found {int(ok.sum())}); use --level pooled")
        x = np.log(pts.params[ok]) - self.grid_.x0
        y = pts.y[ok]
        w = 1.0 / np.maximum(pts.y_se[ok], 1e-6) ** 2
        X = np.stack([np.ones_like(x), x], axis=1)
        XtW = X.T * w
        cov_unscaled = np.linalg.inv(XtW @ X)
        beta = cov_unscaled @ (XtW @ y)
        n = len(y)
        dof = n - 2
        if dof > 0:
            chi2 = float(np.sum(w * (y - X @ beta) ** 2))
            scale = max(1.0, chi2 / dof)  # never narrower than the measured standard errors
        else:
            scale = 1.0
        self._line = {"beta": beta, "cov": cov_unscaled * scale, "dof": dof, "n": n}
        self._set_line(*beta)

    # -- prediction -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.grid_ is None:
            raise RuntimeError("call fit() first")

    def curve(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicted task pass rate and interval at each size (for plots and predictions)."""
        self._check_fitted()
        params = np.atleast_1d(np.asarray(params, dtype=float))
        if np.any(params <= 0):
            raise OptionError("--target-params", "model sizes must be positive")
        x = np.log(params) - self.grid_.x0
        a = 1 - self.confidence
        if self.level == "dataset":
            ln = self._line
            X = np.stack([np.ones_like(x), x], axis=1)
            yhat = X @ ln["beta"]
            se = np.sqrt(np.einsum("ni,ij,nj->n", X, ln["cov"], X))
            q = stats.t.ppf(1 - a / 2, ln["dof"]) if ln["dof"] > 0 else stats.norm.ppf(1 - a / 2)
            # PU is decreasing in y: the upper y bound gives the lower PU bound
            return (np.exp(-np.exp(yhat)), np.exp(-np.exp(yhat + q * se)),
                    np.exp(-np.exp(yhat - q * se)))
        draws = self._draws(x)
        lo, hi = np.quantile(draws, [a / 2, 1 - a / 2], axis=0)
        return draws.mean(axis=0), lo, hi

    def _draws(self, x: np.ndarray) -> np.ndarray:
        if self.level == "pooled":
            return pooled_draws(self.grid_, self._pooled, x, self.n_draws, self.seed)
        rng = np.random.default_rng(self.seed)
        L = np.linalg.cholesky(np.linalg.inv(self._hess))
        z = rng.standard_normal((self.n_draws, len(self._modes), 2))
        beta = self._modes[None] + np.einsum("sij,dsj->dsi", L, z)
        beta[0] = self._modes
        return pass_rate(beta[..., :1], beta[..., 1:], x[None, None, :]).mean(axis=1)

    def predict(self, target_params: float) -> LawPrediction:
        """The task pass rate of a model with ``target_params`` parameters, with an interval."""
        mid, lo, hi = self.curve(np.array([float(target_params)]))
        return LawPrediction(float(target_params), float(mid[0]), [float(lo[0]), float(hi[0])],
                             self.level, self.confidence)

    # -- reporting --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        pts = self.points_
        out: dict[str, Any] = {
            "level": self.level, "confidence": self.confidence, "c": self.c_,
            "alpha": self.alpha_, "n_instances": len(self.grid_.instances),
            "models": [{"model": m, "params": float(p), "pass_rate": float(r),
                        "se": float(s)} for m, p, r, s in
                       zip(pts.models, pts.params, pts.pass_rate, pts.se, strict=True)],
        }
        if self.level == "dataset":
            out["dropped_models"] = self.dropped_
        if self._pooled is not None:
            th = self._pooled.theta
            out["population"] = {"mean_log_c_centred": float(th[0]), "mean_slope": float(th[1]),
                                 "sd_a": float(np.exp(th[2])), "sd_slope": float(np.exp(th[3])),
                                 "corr": float(np.tanh(th[4])),
                                 "log_marginal": self._pooled.log_marginal,
                                 "converged": self._pooled.converged}
        return out

    def summary(self) -> str:
        d = self.to_dict()
        lines = [f"task scaling law PU(N) = exp(-c N^-alpha), {self.level} fit",
                 f"  c = {self.c_:.4g}, alpha = {self.alpha_:.4g}"
                 + (" (population mean line)" if self.level != "dataset" else ""),
                 f"  {d['n_instances']} instances, {len(d['models'])} models"]
        for m in d["models"]:
            lines.append(f"    {m['model']}: N = {m['params']:.4g}, task PU = {m['pass_rate']:.4g}")
        if self.dropped_:
            lines.append(f"  left out (task PU = 0): {', '.join(self.dropped_)}")
        return "\n".join(lines)


def fit_task_law(counts: pd.DataFrame, level: str = "pooled", **kwargs: Any) -> TaskScalingLaw:
    """Shorthand for ``TaskScalingLaw(level=level, **kwargs).fit(counts)``."""
    if counts is None or len(counts) == 0:
        raise DataError("no counts to fit", source="counts")
    return TaskScalingLaw(level=level, **kwargs).fit(counts)
