"""The task scaling law ``PU(N) = exp(-c N^-alpha)``, fitted at four levels, and predictions.

* ``dataset``: the paper's dataset level. Per model, the task mean pass rate (unbiased
  per-instance estimates under the table's sampling design) with a bootstrap standard error over
  instances; a weighted straight line through ``log(-log PU)`` against ``log N``. A model whose
  mean is 0 cannot be placed on the log(-log) scale and is left out (and listed).
* ``instance``: independent per-instance lines by binomial maximum likelihood on the counts
  (zeros and censored cells kept), with a very weak ridge (sd 10) only so that instances that
  never pass have a finite optimum.
* ``pooled``: the hierarchical fit of :mod:`emergence_law.passuntil.pooled`.
* ``distribution``: per model, a scaled beta distribution of the instances' pass rates
  (:mod:`emergence_law.passuntil.distribution`, Schaeffer et al. 2025), fitted by beta-binomial
  likelihood; its mean follows the law in N (weighted line through ``log(-log mean)``) and its
  shape (log a, logit c) a line in log N, so the whole distribution, and pass@k, is predicted.

**Plug-in prediction.** The instance and pooled predictions are the mean over instances of each
instance's fitted law at the target (``mean_s exp(-exp(a_s + b_s x))`` at the fitted lines), not
the mean over posterior draws: an instance that never passed has a posterior dominated by its
prior, and averaging ``exp(-exp(.))`` over such draws put ~0.16 on every such instance on real
counts. The interval is the posterior (pooled: hyperparameters drawn, instance lines
re-solved) or bootstrap (instance: instances resampled) distribution of that same plug-in mean.

**Size-level scatter.** Real task means scatter around any law from size to size (training runs
differ); the instance-level data cannot see it. Every level therefore compares the observed task
mean at each training size with the fit (residuals ``d_j`` on the log(-log) scale, standard
errors ``se_j``) and treats the scatter as a size-level random effect ``u_j ~ N(0, tau^2)``:
tau's posterior given ``d_j ~ N(0, se_j^2 + tau^2)`` (half-Cauchy prior of scale
:data:`TAU_SCALE`, likelihood tempered by ``(M - 2)/M`` for the fitted line) is drawn once per
interval draw, and the target gets ``N(0, tau^2 (1 + h))`` more (``h``: its leverage in a
regression on log N, since the training sizes' shocks moved the fitted line too). With 2-3
residual degrees of freedom tau is poorly known, and drawing it (rather than plugging in a
point estimate, which is 0 half the time) is what keeps the coverage. With two sizes the fit
cannot be checked, and the prediction says so. A bend of the law (sub- or super-scaling) is not
covered unless ``allow_bend`` is set. The random effect's model is :mod:`.scatter`.

Use :class:`TaskScalingLaw` (configure, ``fit(counts)``, then ``predict(N)``; scikit-learn's
estimator convention: settings are checked at ``fit``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from emergence_law.errors import DataError, NotIdentifiableError, SettingError
from emergence_law.passuntil.estimate import task_estimate
from emergence_law.passuntil.likelihood import (
    CountsGrid,
    check_counts,
    instance_newton,
    pass_rate,
)
from emergence_law.passuntil.pooled import PooledState, fit_pooled, pooled_plugin_draws
from emergence_law.passuntil.scatter import (
    TAU_SCALE,
    bend,
    curvature_sd,
    leverage,
    tau_posterior,
)
from emergence_law.settings import EstimatorParams

__all__ = ["DEFAULT_LEVEL", "LEVELS", "TAU_SCALE", "LawPrediction", "TaskPoints",
           "TaskScalingLaw", "check_counts", "fit_task_law", "plugin_mean", "task_points"]

LEVELS = ("pooled", "instance", "dataset", "distribution")
DEFAULT_LEVEL = "pooled"
#: the constructor's arguments, in order (get_params, set_params)
_PARAMS = ("level", "confidence", "n_draws", "seed", "scaled", "allow_bend")


@dataclass
class LawPrediction:
    """A predicted task pass rate at ``target_params`` with its interval."""

    target_params: float
    predicted_pass_rate: float
    interval: list[float]
    level: str
    confidence: float
    size_scatter: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lo, hi = self.interval
        text = (f"predicted pass rate at N = {self.target_params:.4g}: "
                f"{self.predicted_pass_rate:.4g} ({self.confidence:.0%} interval {lo:.4g} - "
                f"{hi:.4g}; {self.level} fit, plug-in mean over instances"
                if self.level in ("pooled", "instance") else
                f"predicted pass rate at N = {self.target_params:.4g}: "
                f"{self.predicted_pass_rate:.4g} ({self.confidence:.0%} interval {lo:.4g} - "
                f"{hi:.4g}; {self.level} fit")
        text += f"; size-to-size scatter sd {self.size_scatter:.3g} on log(-log PU) included)"
        return "\n".join([text] + [f"warning: {w}" for w in self.warnings])


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


@dataclass(repr=False)  # the repr shows the settings (EstimatorParams)
class TaskScalingLaw(EstimatorParams):
    """Fit ``PU(N) = exp(-c N^-alpha)`` to PassUntil counts and predict larger models.

    Parameters: ``level`` (pooled, instance, dataset or distribution), ``confidence`` of the
    intervals, ``n_draws`` posterior or bootstrap draws for the intervals, ``seed``, ``scaled``
    (distribution level: also fit the scale c of the beta; default c = 1, the closed-form
    beta-binomial: the scaled fit needs numerical integrals, ~100x slower, and c is rarely
    identified by a ladder's counts), ``allow_bend`` (widen the interval for a bend of the law
    in log N as large as a quadratic fit to the task means allows; off by default: with 4-5
    sizes it widens intervals 3-4x, see docs/passuntil.md).
    Fitted attributes: ``grid_``, ``points_``, ``c_``, ``alpha_`` (the task-level line: for the
    instance levels, the population mean line), ``instance_params_`` (per-instance c, alpha),
    ``dropped_`` (dataset and distribution levels: models left out), ``scatter_`` (the
    size-level random effect), ``warnings_`` (in words), ``distributions_`` (distribution level:
    one :class:`~emergence_law.passuntil.distribution.BetaFit` per model).

    scikit-learn's convention, as :class:`~emergence_law.fitting.EmergenceLaw`: the constructor
    only stores the settings (``get_params``, ``set_params``, ``sklearn.base.clone`` work),
    :meth:`fit` checks them first (:meth:`validate_params`; a bad one is a
    :class:`~emergence_law.errors.SettingError`, a ``ValueError`` naming the parameter) and
    returns the fitted law.
    """

    PARAMS = _PARAMS

    level: str = DEFAULT_LEVEL
    confidence: float = 0.9
    n_draws: int = 400
    seed: int = 0
    scaled: bool = False
    allow_bend: bool = False
    grid_: CountsGrid | None = field(default=None, init=False, repr=False)
    points_: TaskPoints | None = field(default=None, init=False, repr=False)
    c_: float = field(default=float("nan"), init=False)
    alpha_: float = field(default=float("nan"), init=False)
    instance_params_: pd.DataFrame | None = field(default=None, init=False, repr=False)
    dropped_: list[str] = field(default_factory=list, init=False)
    scatter_: dict[str, Any] = field(default_factory=dict, init=False)
    warnings_: list[str] = field(default_factory=list, init=False)
    distributions_: list[Any] = field(default_factory=list, init=False, repr=False)
    _line: Any = field(default=None, init=False, repr=False)
    _shape: Any = field(default=None, init=False, repr=False)
    _tau_post: Any = field(default=None, init=False, repr=False)
    _pooled: PooledState | None = field(default=None, init=False, repr=False)
    _modes: np.ndarray | None = field(default=None, init=False, repr=False)
    _hess: np.ndarray | None = field(default=None, init=False, repr=False)

    def validate_params(self) -> TaskScalingLaw:
        """Refuse a bad setting with a :class:`~emergence_law.errors.SettingError` naming the
        parameter; :meth:`fit` calls it first, callers that want to refuse before reading counts
        call it themselves."""
        level, confidence, seed, n_draws = self.level, self.confidence, self.seed, self.n_draws
        if not (isinstance(level, str) and level in LEVELS):
            raise SettingError("level", f"unknown level {level!r} (choose from "
                               f"{', '.join(LEVELS)})")
        if isinstance(confidence, bool) or not (isinstance(confidence, Real)
                                                and 0 < confidence < 1):
            raise SettingError("confidence", f"must lie in (0, 1), got {confidence}")
        if isinstance(seed, bool) or not (isinstance(seed, Integral) and seed >= 0):
            raise SettingError("seed", f"must be a whole number >= 0, got {seed}")
        if isinstance(n_draws, bool) or not isinstance(n_draws, Integral):
            raise SettingError("n_draws", f"must be a whole number, got {n_draws!r}")
        if n_draws < 20:
            raise SettingError("n_draws", f"need at least 20 draws for an interval, got {n_draws}")
        for name in ("scaled", "allow_bend"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise SettingError(name, f"must be True or False, got {getattr(self, name)!r}")
        return self

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, counts: pd.DataFrame | CountsGrid, source: str = "counts") -> TaskScalingLaw:
        """Fit the law to ``counts`` (a counts table or a :class:`CountsGrid`); the settings are
        checked first (:meth:`validate_params`)."""
        self.validate_params()
        grid = counts if isinstance(counts, CountsGrid) else CountsGrid.from_counts(counts, source)
        self.grid_ = grid
        self.warnings_ = check_counts(grid, source)
        self.points_ = task_points(grid, seed=self.seed)
        if self.level == "dataset":
            self._fit_line(self.points_, source)
        elif self.level == "distribution":
            self._fit_distribution(source)
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
        self._fit_scatter()
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

    def _fit_line(self, pts: TaskPoints, source: str) -> None:
        """Weighted line through log(-log task PU) of the models with 0 < PU < 1."""
        ok = (pts.pass_rate > 0) & (pts.pass_rate < 1) & np.isfinite(pts.y_se)
        self.dropped_ = [m for m, k in zip(pts.models, ok, strict=True) if not k]
        if ok.sum() < 2:
            raise NotIdentifiableError(
                f"{source}: the {self.level}-level fit needs at least two models with a task "
                f"pass rate strictly between 0 and 1 (found {int(ok.sum())}); use --level pooled")
        x = np.log(pts.params[ok]) - self.grid_.x0
        y = pts.y[ok]
        w = 1.0 / np.maximum(pts.y_se[ok], 1e-6) ** 2
        X = np.stack([np.ones_like(x), x], axis=1)
        XtW = X.T * w
        cov = np.linalg.inv(XtW @ X)
        beta = cov @ (XtW @ y)
        self._line = {"beta": beta, "cov": cov}
        self._set_line(*beta)

    def _fit_distribution(self, source: str) -> None:
        from emergence_law.passuntil.distribution import fit_beta

        g = self.grid_
        fits, means, ses = [], [], []
        for j in range(len(g.models)):
            have = g.trials[:, j] > 0
            try:
                fb = fit_beta(g.trials[have, j], g.passes[have, j], scaled=self.scaled)
            except NotIdentifiableError:
                fb = None
            fits.append(fb)
            means.append(fb.mean if fb else self.points_.pass_rate[j])
            ses.append(fb.eta_se() * abs(fb.mean * np.log(fb.mean)) if fb else np.inf)
        self.distributions_ = fits
        pts = self.points_
        dpts = TaskPoints(pts.models, pts.params, np.array(means), np.array(ses), pts.lower,
                          pts.upper)
        self._dist_points = dpts
        self._fit_line(dpts, source)
        ok = np.array([f is not None for f in fits])
        x = np.log(g.params[ok]) - g.x0
        la = np.log([f.a for f in fits if f is not None])
        lc = special.logit(np.clip([f.c for f in fits if f is not None], 1e-9, 1 - 1e-9))
        X = np.stack([np.ones_like(x), x], axis=1)
        self._shape = {"log_a": np.linalg.lstsq(X, la, rcond=None)[0],
                       "logit_c": np.linalg.lstsq(X, lc, rcond=None)[0]}

    # -- the size-level random effect -------------------------------------------------------
    def _observed_points(self) -> TaskPoints:
        return self._dist_points if self.level == "distribution" else self.points_

    def _fit_scatter(self) -> None:
        pts = self._observed_points()
        ok = (pts.pass_rate > 0) & (pts.pass_rate < 1) & np.isfinite(pts.y_se)
        x = np.log(pts.params[ok]) - self.grid_.x0
        fitted = self._eta_hat(x)
        d = pts.y[ok] - fitted
        se = pts.y_se[ok]
        dof = int(ok.sum()) - 2
        grid, post, tau2 = tau_posterior(d, se, dof)
        if dof < 1:
            self.warnings_.append(
                f"only {int(ok.sum())} model sizes have a task pass rate between 0 and 1: how far "
                "real task means scatter around the law cannot be measured, so the interval "
                "assumes the law holds exactly (add a size)")
        self._tau_post = (grid, post)
        self.scatter_ = {"tau": float(np.sqrt(tau2)), "dof": dof, "x": x.tolist(),
                         "residuals": d.tolist(), "se": se.tolist(),
                         "curvature_sd": curvature_sd(x, pts.y[ok], se, tau2)}

    # -- prediction -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.grid_ is None:
            raise RuntimeError("call fit() first")

    def _eta_hat(self, x: np.ndarray) -> np.ndarray:
        """The fitted log(-log task PU) at centred log sizes ``x`` (plug-in for instance levels)."""
        if self.level in ("dataset", "distribution"):
            return self._line["beta"][0] + self._line["beta"][1] * x
        return _eta(plugin_mean(self._modes, x))

    def _eta_draws(self, x: np.ndarray) -> np.ndarray:
        """Draws (n_draws, len(x)) of the fitted log(-log task PU): parameter uncertainty only."""
        rng = np.random.default_rng(self.seed)
        D = self.n_draws
        if self.level in ("dataset", "distribution"):
            X = np.stack([np.ones_like(x), x], axis=1)
            betas = rng.multivariate_normal(self._line["beta"], self._line["cov"], size=D)
            return betas @ X.T
        S = len(self._modes)
        idx = rng.integers(0, S, size=(D, S))
        if self.level == "instance":
            pu = pass_rate(self._modes[:, :1], self._modes[:, 1:], x[None, :])  # (S, X)
            return _eta(pu[idx].mean(axis=1))
        return _eta(pooled_plugin_draws(self.grid_, self._pooled, x, idx, rng))

    def curve(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicted task pass rate and interval at each size (for plots and predictions)."""
        self._check_fitted()
        params = np.atleast_1d(np.asarray(params, dtype=float))
        if np.any(~np.isfinite(params)) or np.any(params <= 0):
            raise SettingError("params", "model sizes must be positive finite numbers")
        x = np.log(params) - self.grid_.x0
        a = 1 - self.confidence
        mid = self._eta_hat(x)
        draws = self._eta_draws(x)
        tau = self.scatter_["tau"]
        rng = np.random.default_rng(self.seed + 1)
        if tau > 0:
            grid, post = self._tau_post
            taus = rng.choice(grid, size=(len(draws), 1), p=post)
            z = rng.standard_normal((len(draws), 1))
            xs = np.asarray(self.scatter_["x"])
            draws = draws + z * taus * np.sqrt(1 + leverage(xs, x))[None, :]
        q = self.scatter_.get("curvature_sd", 0.0)
        if q > 0 and self.allow_bend:
            xs = np.asarray(self.scatter_["x"])
            draws = draws + rng.standard_normal((len(draws), 1)) * q * bend(xs, x)[None, :]
        lo_eta, hi_eta = np.quantile(draws, [a / 2, 1 - a / 2], axis=0)
        # PU is decreasing in eta: the upper eta bound gives the lower PU bound
        return _pu(mid), _pu(hi_eta), _pu(lo_eta)

    def predict(self, target_params: float) -> LawPrediction:
        """The task pass rate of a model with ``target_params`` parameters, with an interval."""
        self._check_fitted()
        n = target_params
        if isinstance(n, bool) or not (isinstance(n, Real) and np.isfinite(n) and n > 0):
            raise SettingError("target_params", f"must be a positive number, got {n}")
        mid, lo, hi = self.curve(np.array([float(target_params)]))
        return LawPrediction(float(target_params), float(mid[0]), [float(lo[0]), float(hi[0])],
                             self.level, self.confidence, self.scatter_.get("tau", 0.0),
                             list(self.warnings_))

    def distribution_at(self, params: float) -> Any:
        """Distribution level: the predicted scaled beta of pass rates at ``params`` (for pass@k)."""
        from emergence_law.passuntil.distribution import BetaFit

        self._check_fitted()
        if self.level != "distribution":
            raise SettingError("level", "the distribution of pass rates is predicted only by "
                               "the distribution level")
        x = float(np.log(params) - self.grid_.x0)
        mean = float(_pu(self._eta_hat(np.array([x])))[0])
        a = float(np.exp(self._shape["log_a"] @ [1.0, x]))
        c = float(special.expit(self._shape["logit_c"] @ [1.0, x])) if self.scaled else 1.0
        c = max(c, min(1.0, mean * 1.05))
        b = max(a * (c / mean - 1.0), 1e-6)
        return BetaFit(a, b, c, float("nan"), len(self.grid_.instances), np.zeros((3, 3)),
                       self.scaled)

    # -- reporting --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        pts = self._observed_points() if self.level == "distribution" else self.points_
        out: dict[str, Any] = {
            "level": self.level, "confidence": self.confidence, "c": self.c_,
            "alpha": self.alpha_, "n_instances": len(self.grid_.instances),
            "models": [{"model": m, "params": float(p), "pass_rate": float(r),
                        "se": float(s)} for m, p, r, s in
                       zip(pts.models, pts.params, pts.pass_rate, pts.se, strict=True)],
            "size_scatter": {k: self.scatter_[k] for k in ("tau", "dof", "residuals",
                                                            "curvature_sd")},
            "warnings": list(self.warnings_),
        }
        if self.level in ("dataset", "distribution"):
            out["dropped_models"] = self.dropped_
        if self.level == "distribution":
            out["distributions"] = [f.to_dict() if f is not None else None
                                    for f in self.distributions_]
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
        what = {"dataset": "task mean", "distribution": "beta-binomial mean",
                "pooled": "task mean", "instance": "task mean"}[self.level]
        lines = [f"task scaling law PU(N) = exp(-c N^-alpha), {self.level} fit",
                 f"  c = {self.c_:.4g}, alpha = {self.alpha_:.4g}"
                 + (" (population mean line)" if self.level in ("pooled", "instance") else ""),
                 f"  {d['n_instances']} instances, {len(d['models'])} models"]
        for m in d["models"]:
            lines.append(f"    {m['model']}: N = {m['params']:.4g}, {what} PU = "
                         f"{m['pass_rate']:.4g}")
        if self.dropped_:
            lines.append(f"  left out (task PU = 0 or 1): {', '.join(self.dropped_)}")
        sc = self.scatter_
        if sc.get("dof", 0) >= 1:
            lines.append(f"  size-to-size scatter of task means around the law: sd "
                         f"{sc['tau']:.3g} on log(-log PU) ({sc['dof']} degrees of freedom), "
                         "added to the interval")
        if sc.get("curvature_sd", 0.0) > 0 and self.allow_bend:
            lines.append(f"  allowance for a bend of the law in log N: |q| up to about "
                         f"{sc['curvature_sd']:.3g} (quadratic fit to the task means), added to "
                         "the interval")
        return "\n".join(lines)


def _eta(pu: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(pu, dtype=float), 1e-300, 1 - 1e-16)
    return np.log(-np.log(p))


def _pu(eta: np.ndarray) -> np.ndarray:
    return np.exp(-np.exp(np.clip(np.asarray(eta, dtype=float), -700, 700)))


def plugin_mean(modes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mean over instances of each instance's fitted law at centred log sizes ``x``."""
    return pass_rate(modes[:, :1], modes[:, 1:], np.asarray(x)[None, :]).mean(axis=0)


def fit_task_law(counts: pd.DataFrame, level: str = "pooled", **kwargs: Any) -> TaskScalingLaw:
    """Shorthand for ``TaskScalingLaw(level=level, **kwargs).fit(counts)``."""
    if counts is None or len(counts) == 0:
        raise DataError("no counts to fit", source="counts")
    return TaskScalingLaw(level=level, **kwargs).fit(counts)
