"""Accelerated emergence: is log(-log PU) against log N straight, convex or concave?

With ``F(x) = log(-log PU)`` and ``x = log N``, the task scaling law is a straight line. The
paper's two explanations of departures give opposite curvatures:

* multi-step (``PU = prod_j exp(-c_j N^-alpha_j)``): ``F = logsumexp_j(a_j + b_j x)``, convex;
  it cannot produce acceleration;
* multiple circuits (``PU = max_i exp(-c_i N^-alpha_i)``, or a soft maximum): ``F`` is the (soft)
  minimum of lines, concave: "accelerated emergence".

:func:`curvature_test` fits ``F = a + b x + q x^2`` by weighted least squares on the task-level
points (weights from the delta-method standard errors of F) and tests ``q = 0`` (t test on the
scaled covariance, n - 3 degrees of freedom; a normal test when the points are exactly
determined). :func:`compare_growth_models` fits the linear, multi-step and multiple-circuits
models by maximum likelihood (Gaussian on F with those standard errors) and ranks them by AIC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

from emergence_law.errors import NotIdentifiableError


def _clean(params, pass_rate, se) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = np.asarray(params, dtype=float)
    p = np.asarray(pass_rate, dtype=float)
    s = np.asarray(se, dtype=float)
    ok = (p > 0) & (p < 1) & (n > 0) & np.isfinite(s)
    x = np.log(n[ok])
    p, s = p[ok], s[ok]
    y = np.log(-np.log(p))
    y_se = np.maximum(s / np.abs(p * np.log(p)), 1e-6)
    return x, y, y_se


@dataclass
class CurvatureResult:
    """The quadratic term of log(-log PU) in log N, its test, and the verdict."""

    quadratic: float
    se: float
    statistic: float
    p_value: float
    shape: str  # "concave" (accelerated), "convex" (sub-scaling) or "linear"
    n_points: int
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        what = {"concave": "concave: accelerated emergence (super-scaling)",
                "convex": "convex: sub-scaling", "linear": "no significant curvature"}[self.shape]
        return (f"curvature of log(-log PU) in log N: q = {self.quadratic:.4g} (se "
                f"{self.se:.3g}, p = {self.p_value:.3g}, {self.n_points} sizes): {what}")


def curvature_test(params, pass_rate, se, alpha: float = 0.05) -> CurvatureResult:
    """Test the curvature of log(-log PU) against log N from task-level points."""
    x, y, y_se = _clean(params, pass_rate, se)
    n = len(x)
    if n < 3:
        raise NotIdentifiableError(f"a curvature test needs at least 3 model sizes with 0 < PU < 1 "
                                   f"(found {n})")
    xc = x - x.mean()
    X = np.stack([np.ones(n), xc, xc**2], axis=1)
    w = 1 / y_se**2
    cov = np.linalg.inv((X.T * w) @ X)
    beta = cov @ ((X.T * w) @ y)
    dof = n - 3
    if dof > 0:
        chi2 = float(np.sum(w * (y - X @ beta) ** 2))
        cov = cov * max(1.0, chi2 / dof)
    q, q_se = float(beta[2]), float(np.sqrt(cov[2, 2]))
    t = q / q_se
    p = float(2 * (stats.t.sf(abs(t), dof) if dof > 0 else stats.norm.sf(abs(t))))
    shape = "linear" if p >= alpha else ("concave" if q < 0 else "convex")
    return CurvatureResult(q, q_se, float(t), p, shape, n, alpha)


# ---------------------------------------------------------------------------------------------
# competing growth models


def _lines(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    k = len(theta) // 2
    return theta[:k, None] + theta[k:, None] * x[None, :]


def f_linear(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    return theta[0] + theta[1] * x


def f_multi_step(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log(-log prod_j exp(-c_j N^-alpha_j)) = logsumexp of lines: convex."""
    return np.logaddexp.reduce(_lines(theta, x), axis=0)


def f_multi_circuit(theta: np.ndarray, x: np.ndarray, tau: float = 0.1) -> np.ndarray:
    """log(-log softmax_i PU_i) = soft minimum of lines (temperature tau): concave."""
    return -tau * np.logaddexp.reduce(-_lines(theta, x) / tau, axis=0)


MODELS = {"linear": (f_linear, 2), "multi_step": (f_multi_step, 4),
          "multi_circuit": (f_multi_circuit, 4)}


@dataclass
class GrowthFit:
    name: str
    params: list[float]
    log_likelihood: float
    k: int
    aic: float
    bic: float


@dataclass
class GrowthComparison:
    """Linear, multi-step and multiple-circuits fits ranked by AIC (lower is better)."""

    fits: list[GrowthFit]
    best: str
    x_centre: float
    curvature: CurvatureResult | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        d = {"best": self.best, "x_centre": self.x_centre,
             "models": [asdict(f) for f in self.fits]}
        if self.curvature is not None:
            d["curvature"] = self.curvature.to_dict()
        return d

    def summary(self) -> str:
        lines = ["growth models of log(-log PU) in log N (Gaussian likelihood, AIC):"]
        for f in sorted(self.fits, key=lambda f: f.aic):
            lines.append(f"  {f.name:14s} logL = {f.log_likelihood:9.3f}  k = {f.k}  "
                         f"AIC = {f.aic:9.3f}  BIC = {f.bic:9.3f}")
        lines.append(f"  best by AIC: {self.best}")
        if self.curvature is not None:
            lines.append("  " + self.curvature.summary())
        return "\n".join(lines)

    def predict(self, name: str, params) -> np.ndarray:
        """PU under one fitted model at sizes ``params``."""
        fit = next(f for f in self.fits if f.name == name)
        x = np.log(np.asarray(params, dtype=float)) - self.x_centre
        return np.exp(-np.exp(MODELS[name][0](np.asarray(fit.params), x)))


def _starts(name: str, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    b, a = np.polyfit(x, y, 1)
    if name == "linear":
        return [np.array([a, b])]
    starts = []
    for split in range(2, len(x) - 1):
        bl, al = np.polyfit(x[:split], y[:split], 1)
        br, ar = np.polyfit(x[split:], y[split:], 1)
        starts.append(np.array([al, ar, bl, br]))
    starts.append(np.array([a, a - 1.0, b, b]))
    return starts


def compare_growth_models(params, pass_rate, se, *, with_curvature: bool = True,
                          alpha: float = 0.05) -> GrowthComparison:
    """Fit the three growth models to task-level points and rank them by AIC."""
    x, y, y_se = _clean(params, pass_rate, se)
    order = np.argsort(x)
    x, y, y_se = x[order], y[order], y_se[order]
    n = len(x)
    if n < 3:
        raise NotIdentifiableError(f"comparing growth models needs at least 3 model sizes with "
                                   f"0 < PU < 1 (found {n})")
    x0 = float(x.mean())
    xc = x - x0
    const = -float(np.sum(np.log(y_se * np.sqrt(2 * np.pi))))
    fits = []
    for name, (f, k) in MODELS.items():
        if k > n:
            continue
        best = None
        for start in _starts(name, xc, y):
            res = optimize.least_squares(lambda t, f=f: (y - f(t, xc)) / y_se, start,
                                         method="lm", max_nfev=300)
            if best is None or res.cost < best.cost:
                best = res
        ll = const - float(best.cost)  # cost = 0.5 * sum(residual^2)
        fits.append(GrowthFit(name, best.x.tolist(), ll, k, 2 * k - 2 * ll,
                              k * np.log(n) - 2 * ll))
    winner = min(fits, key=lambda f: f.aic).name
    curv = curvature_test(params, pass_rate, se, alpha) if with_curvature else None
    return GrowthComparison(fits, winner, x0, curv)
