"""Pretraining scaling laws: ``L(N) = E + A/N^alpha`` and Chinchilla ``L(N, D) = E + A/N^a + B/D^b``.

Why this module exists: an emergence law predicts a *loss*; users want a *model size*. Turning
one into the other needs a scaling law fitted to a model family, with its own uncertainty.

The fit follows the de facto recipe of Hoffmann et al. (2022): write the law as a log-sum-exp
of linear terms in ``log N`` (and ``log D``), minimise the Huber loss (delta = 1e-3) between the
predicted and observed *log* loss with L-BFGS, starting from a grid of initial values, and keep
the best optimum (the surface has many local minima). To stay fast the whole grid is evaluated
in one vectorised pass and L-BFGS is run only from its best few points. Uncertainty comes from a
case bootstrap (resample the rows, refit, warm-started from the full-data optimum).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from emergence_law.errors import DataError, NotIdentifiableError, SettingError
from emergence_law.observations import Column, TableSchema, read_table, validate_table

Form = Literal["size", "chinchilla"]

#: the table a user gives ``to-params --scaling``: one row per model (or checkpoint)
SCALING_SCHEMA = TableSchema(
    "scaling losses",
    (
        Column("params", "float", required=True, minimum=0, doc="parameter count N"),
        Column("loss", "float", required=True, minimum=0, doc="pretraining loss, nats"),
        Column("tokens", "float", minimum=0, doc="pretraining tokens D (Chinchilla form)"),
        Column("model", "str", doc="model name (for plots)"),
    ),
)

#: a fitted exponent at or below this is a flat law: size does not move the loss
MIN_ALPHA = 1e-3
_PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "size": ("E", "A", "alpha"),
    "chinchilla": ("E", "A", "alpha", "B", "beta"),
}


def load_scaling_table(path: str, source: str | None = None) -> pd.DataFrame:
    """Read and validate a scaling-law table (``params, loss[, tokens]``); one error line if bad."""
    raw = read_table(path) if not isinstance(path, pd.DataFrame) else path
    src = source or str(path)
    df = validate_table(raw, SCALING_SCHEMA, src)
    if df.empty:
        raise DataError("no rows: a scaling law needs a model family's sizes and losses",
                        source=src)
    for col in ("params",):
        bad = ~(df[col].to_numpy(dtype=float) > 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError("parameter count must be positive", source=src, row=i + 1, column=col)
    bad = ~(df["loss"].to_numpy(dtype=float) > 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError("loss must be positive", source=src, row=i + 1, column="loss")
    return _one_row_per_checkpoint(df, raw, src)


def _one_row_per_checkpoint(df: pd.DataFrame, raw: pd.DataFrame, src: str) -> pd.DataFrame:
    """An observation table has many rows per checkpoint (one per task, setting, data level)
    that share its size, tokens and loss: one point of the scaling law, not many (counted
    repeatedly they would weight checkpoints by how much was measured on them, and slow the
    bootstrap by the same factor). Rows of one checkpoint that disagree are refused."""
    if not {"model", "checkpoint"} <= set(raw.columns) or len(raw) != len(df):
        return df
    keys = raw["model"].astype(str) + "\x00" + raw["checkpoint"].astype(str)
    cols = [c for c in ("params", "tokens", "loss") if c in df.columns]
    values = df[cols].reset_index(drop=True)
    keys = keys.reset_index(drop=True)
    first = ~keys.duplicated()
    for col in cols:
        ref = values.loc[first, col].set_axis(keys[first]).reindex(keys).to_numpy(dtype=float)
        now = values[col].to_numpy(dtype=float)
        differs = ~((ref == now) | (np.isnan(ref) & np.isnan(now)))
        if differs.any():
            i = int(np.flatnonzero(differs)[0])
            raise DataError(f"checkpoint {raw['checkpoint'].iloc[i]} of {raw['model'].iloc[i]} "
                            f"has another {col} on an earlier row ({ref[i]:g} vs {now[i]:g}): "
                            "one checkpoint is one point of the scaling law", source=src,
                            row=i + 1, column=col)
    return df[first.to_numpy()].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# the objective: Huber loss between log-sum-exp prediction and log loss


def _design(form: str, log_n: np.ndarray, log_d: np.ndarray | None) -> np.ndarray:
    """Per-row covariates of each term's log: columns (log N) or (log N, log D)."""
    if form == "size":
        return log_n[:, None]
    assert log_d is not None
    return np.column_stack([log_n, log_d])


def _terms(form: str, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Log of each additive term; theta in the log parameterisation (e, a, alpha[, b, beta])."""
    e, a, alpha = theta[..., 0], theta[..., 1], theta[..., 2]
    cols = [np.broadcast_to(e[..., None], (*e.shape, x.shape[0])),
            a[..., None] - alpha[..., None] * x[:, 0]]
    if form == "chinchilla":
        b, beta = theta[..., 3], theta[..., 4]
        cols.append(b[..., None] - beta[..., None] * x[:, 1])
    return np.stack(cols, axis=-1)


def _lse_softmax(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-sum-exp over the last axis and the matching softmax weights (scipy's versions carry
    array-API overhead that dominates on these tiny arrays)."""
    m = t.max(axis=-1, keepdims=True)
    ex = np.exp(t - m)
    s = ex.sum(axis=-1, keepdims=True)
    return (m + np.log(s))[..., 0], ex / s


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    ar = np.abs(r)
    return np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta))


def _objective(theta: np.ndarray, form: str, x: np.ndarray, log_l: np.ndarray, delta: float,
               ) -> tuple[float, np.ndarray]:
    """Huber objective and its gradient with respect to theta."""
    pred, w = _lse_softmax(_terms(form, theta, x))  # (n,), (n, k)
    r = pred - log_l
    dr = np.clip(r, -delta, delta)  # Huber derivative
    g = np.empty_like(theta)
    g[0] = np.sum(dr * w[:, 0])
    g[1] = np.sum(dr * w[:, 1])
    g[2] = -np.sum(dr * w[:, 1] * x[:, 0])
    if form == "chinchilla":
        g[3] = np.sum(dr * w[:, 2])
        g[4] = -np.sum(dr * w[:, 2] * x[:, 1])
    return float(np.sum(_huber(r, delta))), g


def _grid(form: str) -> np.ndarray:
    """Starting points (e, a, alpha[, b, beta]), the grid of Hoffmann et al. thinned a little."""
    es = np.arange(-1.0, 1.01, 0.5)
    as_ = np.arange(0.0, 30.01, 5.0)
    alphas = np.array([0.05, 0.2, 0.5, 1.0, 1.5, 2.0])
    if form == "size":
        return np.array(list(itertools.product(es, as_, alphas)))
    return np.array(list(itertools.product(es, as_, alphas, as_, alphas)))


def _minimise(form: str, x: np.ndarray, log_l: np.ndarray, delta: float, starts: np.ndarray,
              n_best: int) -> tuple[np.ndarray, float]:
    """Evaluate all starts at once, run L-BFGS from the ``n_best`` best, return the optimum.

    The optimiser works with centred covariates (log N minus its mean), which decorrelates the
    log-amplitude from the exponent and cuts the number of iterations several-fold; parameters
    go in and come out in the uncentred form.
    """
    centre = x.mean(axis=0)
    x = x - centre
    starts = _shift(form, starts, centre)
    pred = _lse_softmax(_terms(form, starts, x))[0]  # (s, n)
    obj = _huber(pred - log_l, delta).sum(axis=-1)
    order = np.argsort(obj)[:n_best]
    bounds = [(-10, 10), (None, None), (0.0, 10.0)]
    if form == "chinchilla":
        bounds += [(None, None), (0.0, 10.0)]
    best_theta, best_val = starts[order[0]], float(obj[order[0]])
    # L-BFGS-B calls BLAS on tiny vectors: a multi-threaded BLAS makes each step ~10x slower
    with threadpool_limits(limits=1, user_api="blas"):
        for i in order:
            res = minimize(_objective, starts[i], args=(form, x, log_l, delta), jac=True,
                           method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-10})
            if np.isfinite(res.fun) and res.fun < best_val:
                best_theta, best_val = res.x, float(res.fun)
    return _shift(form, np.asarray(best_theta, dtype=float), -centre), best_val


def _shift(form: str, theta: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Re-express log-amplitudes for covariates shifted by ``centre``: a' = a - alpha * c."""
    out = np.array(theta, dtype=float, copy=True)
    out[..., 1] = theta[..., 1] - theta[..., 2] * centre[0]
    if form == "chinchilla":
        out[..., 3] = theta[..., 3] - theta[..., 4] * centre[1]
    return out


def _natural(form: str, theta: np.ndarray) -> np.ndarray:
    """(e, a, alpha[, b, beta]) -> (E, A, alpha[, B, beta]); works on stacks of draws."""
    out = np.array(theta, dtype=float, copy=True)
    out[..., 0] = np.exp(theta[..., 0])
    out[..., 1] = np.exp(theta[..., 1])
    if form == "chinchilla":
        out[..., 3] = np.exp(theta[..., 3])
    return out


# ---------------------------------------------------------------------------------------------
# result object


@dataclass
class ScalingFit:
    """A fitted scaling law: point estimate, bootstrap draws, and loss <-> size conversions."""

    form: str
    params: dict[str, float]
    n_obs: int
    objective: float
    huber_delta: float
    bootstrap: np.ndarray | None = None  # (B, k) natural parameters, columns as param_names
    data: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def param_names(self) -> tuple[str, ...]:
        return _PARAM_NAMES[self.form]

    def _vector(self) -> np.ndarray:
        return np.array([self.params[k] for k in self.param_names])

    @staticmethod
    def _loss(form: str, p: np.ndarray, n: np.ndarray, d: np.ndarray | None) -> np.ndarray:
        loss = p[..., 0] + p[..., 1] / n ** p[..., 2]
        if form == "chinchilla":
            if d is None:
                raise SettingError("tokens", "the Chinchilla law needs the token count D")
            loss = loss + p[..., 3] / d ** p[..., 4]
        return loss

    def predict(self, params: Any, tokens: Any = None) -> np.ndarray:
        """Predicted loss at parameter count(s) ``params`` (and tokens, for the Chinchilla law)."""
        n = np.asarray(params, dtype=float)
        d = None if tokens is None else np.asarray(tokens, dtype=float)
        return self._loss(self.form, self._vector(), n, d)

    def size_for_loss(self, loss: Any, tokens_per_param: float | None = None,
                      draws: np.ndarray | None = None) -> np.ndarray:
        """Parameter count that reaches ``loss`` (``inf`` where loss <= the irreducible term E).

        For the Chinchilla law, tokens are tied to size as ``D = tokens_per_param * N`` (the
        compute-optimal recipe) and the equation is solved numerically. ``draws`` (rows of
        natural parameters, broadcast against ``loss``) replaces the point estimate, which is how
        bootstrap uncertainty is propagated.
        """
        target = np.asarray(loss, dtype=float)
        p = self._vector() if draws is None else np.asarray(draws, dtype=float)
        e = p[..., 0]
        reachable = (target > e) & (p[..., 2] > MIN_ALPHA)  # a flat law reaches no new loss
        if self.form == "size":
            with np.errstate(divide="ignore", invalid="ignore"):
                n = (p[..., 1] / (target - e)) ** (1.0 / p[..., 2])
            return np.where(reachable, n, np.inf)
        if tokens_per_param is None or tokens_per_param <= 0:
            raise SettingError("tokens_per_param", "the Chinchilla law needs a positive ratio")
        # bisection on log N: loss(N, R*N) decreases monotonically in N
        lo = np.full(np.broadcast(target, e).shape, math.log(1e-3))
        hi = np.full_like(lo, math.log(1e40))
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            n = np.exp(mid)
            above = self._loss(self.form, p, n, tokens_per_param * n) > target
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        n = np.exp(0.5 * (lo + hi))
        # a target that even N = 1e40 does not reach counts as unreachable
        reachable = reachable & (self._loss(self.form, p, np.exp(hi), tokens_per_param
                                            * np.exp(hi)) <= target * (1 + 1e-9))
        return np.where(reachable, n, np.inf)

    def interval(self, q: tuple[float, float] = (5, 95)) -> dict[str, tuple[float, float]]:
        """Bootstrap percentile interval of every parameter."""
        if self.bootstrap is None or len(self.bootstrap) == 0:
            return {}
        lo, hi = np.percentile(self.bootstrap, q, axis=0)
        return {k: (float(lo[i]), float(hi[i])) for i, k in enumerate(self.param_names)}

    def to_dict(self) -> dict[str, Any]:
        iv = self.interval()
        return {
            "form": self.form,
            "law": ("L(N) = E + A/N^alpha" if self.form == "size"
                    else "L(N, D) = E + A/N^alpha + B/D^beta"),
            "params": dict(self.params),
            "interval_5_95": {k: list(v) for k, v in iv.items()},
            "n_obs": self.n_obs,
            "n_bootstrap": 0 if self.bootstrap is None else int(len(self.bootstrap)),
            "huber_delta": self.huber_delta,
            "objective": self.objective,
        }

    def summary(self) -> str:
        iv = self.interval()
        lines = [self.to_dict()["law"] + f"  ({self.n_obs} rows, Huber delta {self.huber_delta:g} "
                 "in log loss)"]
        for k in self.param_names:
            ci = iv.get(k)
            extra = f"   [5-95%: {ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""
            lines.append(f"  {k:>5} = {self.params[k]:.6g}{extra}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# estimator


class ScalingLaw:
    """Estimator for ``L(N)`` (``form="size"``) or Chinchilla ``L(N, D)`` (``form="chinchilla"``).

    ``fit(params, loss, tokens=None)`` returns a :class:`ScalingFit`. ``n_bootstrap`` case
    resamples give the uncertainty that ``to-params`` propagates (0 turns it off). Like
    :class:`~emergence_law.fitting.EmergenceLaw`, ``__init__`` only stores the settings and
    ``fit`` checks them (a :class:`SettingError` naming the parameter).
    """

    def __init__(self, form: Form = "size", huber_delta: float = 1e-3, n_bootstrap: int = 200,
                 n_best_starts: int = 8, seed: int = 0) -> None:
        self.form = form
        self.huber_delta = huber_delta
        self.n_bootstrap = n_bootstrap
        self.n_best_starts = n_best_starts
        self.seed = seed

    def _xy(self, n: np.ndarray, loss: np.ndarray, d: np.ndarray | None):
        log_d = None if d is None else np.log(d)
        return _design(self.form, np.log(n), log_d), np.log(loss)

    def validate_params(self) -> ScalingLaw:
        """Refuse a bad setting (a :class:`SettingError` naming it); ``fit`` calls this first."""
        if self.form not in _PARAM_NAMES:
            raise SettingError("form", f"unknown scaling-law form {self.form!r} (size, chinchilla)")
        if not self.huber_delta > 0:
            raise SettingError("huber_delta", "must be positive")
        return self

    def fit(self, params: Any, loss: Any, tokens: Any = None,
            progress: Callable[[int, int], None] | None = None) -> ScalingFit:
        """Fit the law (and its bootstrap; ``progress(done, total)`` reports resamples)."""
        self.validate_params()
        n = np.asarray(params, dtype=float)
        y = np.asarray(loss, dtype=float)
        d = None if tokens is None else np.asarray(tokens, dtype=float)
        if self.form == "chinchilla" and (d is None or np.isnan(d).any()):
            raise DataError("the Chinchilla law needs a token count in every row", column="tokens")
        if n.shape != y.shape or n.ndim != 1:
            raise DataError("params and loss must be 1-d arrays of the same length")
        if np.any(~(n > 0)) or np.any(~(y > 0)):
            raise DataError("params and loss must be positive")
        k = len(_PARAM_NAMES[self.form])
        n_distinct = len(np.unique(n)) if self.form == "size" else len(np.unique(np.c_[n, d], axis=0))
        if n_distinct < k:
            raise NotIdentifiableError(
                f"the {self.form} scaling law has {k} parameters but only {n_distinct} distinct "
                f"{'sizes' if self.form == 'size' else '(N, D) pairs'} were given")
        x, log_l = self._xy(n, y, d)
        grid = _grid(self.form)
        theta, val = _minimise(self.form, x, log_l, self.huber_delta, grid, self.n_best_starts)
        nat = _natural(self.form, theta)
        params_d = {name: float(nat[i]) for i, name in enumerate(_PARAM_NAMES[self.form])}
        if not params_d["alpha"] > MIN_ALPHA:
            raise NotIdentifiableError(
                f"the fitted scaling law is flat (alpha = {params_d['alpha']:.3g}): the family's "
                "losses do not fall with size, so no size can be read off for a loss (check "
                "the params and loss columns)")
        boot = None
        if self.n_bootstrap > 0:
            boot = self._bootstrap(n, y, d, theta, grid, progress)
        data = pd.DataFrame({"params": n, "loss": y})
        if d is not None:
            data["tokens"] = d
        return ScalingFit(self.form, params_d, len(n), val, self.huber_delta, boot, data)

    def fit_table(self, df: pd.DataFrame,
                  progress: Callable[[int, int], None] | None = None) -> ScalingFit:
        """Fit to a validated scaling table (see :func:`load_scaling_table`)."""
        tokens = df["tokens"].to_numpy(dtype=float) if self.form == "chinchilla" else None
        return self.fit(df["params"].to_numpy(dtype=float), df["loss"].to_numpy(dtype=float),
                        tokens, progress)

    def _bootstrap(self, n, y, d, theta0, grid, progress=None) -> np.ndarray:
        """Case bootstrap; each refit starts from the full-data optimum and the best grid points."""
        rng = np.random.default_rng(self.seed)
        k = len(theta0)
        draws = []
        attempts = 0
        while len(draws) < self.n_bootstrap and attempts < 5 * self.n_bootstrap:
            attempts += 1
            idx = rng.integers(0, len(n), len(n))
            nb, yb = n[idx], y[idx]
            db = None if d is None else d[idx]
            distinct = len(np.unique(nb)) if db is None else len(np.unique(np.c_[nb, db], axis=0))
            if distinct < k:
                continue  # a resample that cannot identify the law is redrawn
            x, log_l = self._xy(nb, yb, db)
            starts = np.vstack([theta0[None, :], grid])
            th, _ = _minimise(self.form, x, log_l, self.huber_delta, starts, 1)
            draws.append(_natural(self.form, th))
            if progress is not None:
                progress(len(draws), self.n_bootstrap)
        if not draws:
            raise NotIdentifiableError("no bootstrap resample could identify the scaling law")
        return np.array(draws).reshape(-1, k)
