"""The emergence-law likelihood with the linear parameters profiled out in closed form.

Given the three nonlinear parameters ``theta = (E(D0), E(D_ref), alpha)`` every row's elbow is
known, so performance is *linear* in ``(A, B, Delta)`` (or in per-level ``A_j, B_j``): weighted
least squares gives them exactly, and the fit is a search over three well-scaled numbers only.
Everything here is vectorised over a batch of ``theta`` (grid points, MCMC walkers).

Slopes are constrained to ``A >= 0`` (performance cannot fall as the model gets better): a
negative least-squares slope is set to 0 and the rest refitted, which is the constrained
least-squares optimum for a single slope.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from emergence_law.errors import DataError, SettingError
from emergence_law.laws import FORMS, AnchoredLaw

LIKELIHOODS = ("gaussian", "binomial", "quasi-binomial")
#: the likelihoods whose rows carry binomial weights ``n / (p(1-p))`` (they need ``n_eval``)
BINOMIAL_WEIGHTED = ("binomial", "quasi-binomial")


def prior_box(loss_min: float, loss_max: float, form: str = "log_power") -> np.ndarray:
    """The uniform prior's box (and the MLE's search range) of ``theta = (E(D0), E(D_ref),
    alpha)``, rows ``[low, high]``: each elbow within the rows' loss range padded by
    ``max(0.5, range)`` on both sides, alpha in ``[-2, 4]`` (``[-2, 1.5]`` for ``power``).

    Public so that callers judging a fit (an MLE on the box's edge is a bound, not an
    estimate) use the fitter's own box rather than a copy of its formula.
    """
    pad = max(0.5, loss_max - loss_min)
    a_lo, a_hi = (-2.0, 4.0) if form != "power" else (-2.0, 1.5)
    return np.array([[loss_min - pad, loss_max + pad], [loss_min - pad, loss_max + pad],
                     [a_lo, a_hi]])


@dataclass
class FitData:
    """The rows of one fit as arrays: what the likelihood needs, nothing else."""

    loss: np.ndarray
    value: np.ndarray
    weight: np.ndarray          # 1 (gaussian) or 1/binomial variance (binomial, quasi-binomial)
    level: np.ndarray           # index into ``levels``; len(levels) for few-shot rows
    levels: np.ndarray          # the finetuning data amounts D, ascending
    is_fewshot: np.ndarray
    n_eval: np.ndarray
    chance: float | None
    rows: pd.DataFrame = field(repr=False)

    @property
    def n(self) -> int:
        return int(self.loss.size)


def binomial_weights(value: np.ndarray, n_eval: np.ndarray) -> np.ndarray:
    """``1 / var`` with ``var = p(1-p)/n`` at the Agresti-Coull-smoothed ``p = (x+2)/(n+4)``.

    Smoothing keeps the variance of a 0 % or 100 % score positive; using the observed rather than
    the fitted ``p`` keeps the likelihood a weighted least-squares problem (closed-form profile).
    """
    p = (value * n_eval + 2.0) / (n_eval + 4.0)
    return n_eval / (p * (1.0 - p))


def prepare_data(
    rows: pd.DataFrame, *, form: str, likelihood: str, min_loss: float | None = None,
    source: str = "observations",
) -> FitData:
    """Turn one task's validated rows into :class:`FitData` (after the ``min_loss`` cut)."""
    if min_loss is not None:
        rows = rows[rows["loss"].to_numpy(dtype=float) >= min_loss]
    if form == "no_fewshot":
        rows = rows[rows["setting"] == "finetune"]
    rows = rows.reset_index(drop=True)
    if rows.empty:
        raise DataError("no rows left to fit" + (f" with loss >= {min_loss}" if min_loss else ""),
                        source=source)
    ft = (rows["setting"] == "finetune").to_numpy()
    d = rows["n_train"].to_numpy(dtype=float)
    levels = np.unique(d[ft])
    level = np.full(len(rows), len(levels), dtype=int)
    level[ft] = np.searchsorted(levels, d[ft])
    value = rows["value"].to_numpy(dtype=float)
    n_eval = rows["n_eval"].to_numpy(dtype=float)
    if likelihood in BINOMIAL_WEIGHTED:
        if np.isnan(n_eval).any():
            i = int(np.flatnonzero(np.isnan(n_eval))[0])
            raise DataError(f"the {likelihood} likelihood needs n_eval on every row",
                            source=source, row=i + 1, column="n_eval")
        outside = (value < 0) | (value > 1)
        if outside.any():  # its variances p(1-p)/n would be negative: no likelihood at all
            i = int(np.flatnonzero(outside)[0])
            metric = rows["metric"].iloc[i] if "metric" in rows.columns else "the metric"
            raise SettingError("likelihood", f"{likelihood} needs proportions in [0, 1], but "
                               f"{metric} has {value[i]:g} (row {i + 1} of the rows fitted); "
                               "use --likelihood gaussian")
        weight = binomial_weights(value, n_eval)
    else:
        weight = np.ones_like(value)
    ch = rows["chance"].to_numpy(dtype=float)
    chance = float(np.nanmedian(ch)) if np.isfinite(ch).any() else None
    return FitData(loss=rows["loss"].to_numpy(dtype=float), value=value, weight=weight,
                   level=level, levels=levels, is_fewshot=~ft, n_eval=n_eval, chance=chance,
                   rows=rows)


class ProfileModel:
    """Weighted least squares in the linear parameters, for any batch of ``theta``.

    ``rss(theta)`` is the (weighted) residual sum of squares at the best linear parameters;
    ``loglik`` turns it into the log-likelihood (Gaussian with sigma profiled out, binomial
    with known variances, or quasi-binomial: the binomial variances times one dispersion
    factor profiled out like the Gaussian's sigma); ``log_posterior`` is what the MCMC samples
    (see mcmc.py).
    """

    def __init__(self, data: FitData, *, form: str = "log_power", d0: float = 5.0,
                 likelihood: str = "gaussian", shared_ab: bool = True) -> None:
        if form not in FORMS:
            raise SettingError("form", f"unknown form {form!r} (use {', '.join(FORMS)})")
        if likelihood not in LIKELIHOODS:
            raise SettingError("likelihood", f"unknown likelihood {likelihood!r} "
                               f"(use {', '.join(LIKELIHOODS)})")
        self.data = data
        self.form = form
        self.likelihood = likelihood
        self.shared_ab = shared_ab
        self.d0 = float(d0)
        self.law = AnchoredLaw(form, self.d0, float(data.levels[-1]))
        self.has_fewshot = bool(data.is_fewshot.any()) and form != "no_fewshot"
        J = len(data.levels)
        self.J = J
        sw = np.sqrt(data.weight)
        self._sw = sw
        self._y = data.value * sw
        self._yy = float(self._y @ self._y)
        # constant (theta-independent) columns: intercepts (and Delta)
        fs = data.is_fewshot.astype(float)
        if shared_ab:
            const = [np.ones(data.n)] + ([fs] if self.has_fewshot else [])
            self.slope_names = ["A"]
            self.const_names = ["B"] + (["Delta"] if self.has_fewshot else [])
        else:
            const = [(data.level == j).astype(float) for j in range(J)]
            self.const_names = [f"B_{int(d)}" for d in data.levels]
            if self.has_fewshot:
                const.append(fs)
                self.const_names.append("B_fewshot")
            self.slope_names = [f"A_{int(d)}" for d in data.levels]
        self._const = np.stack(const, axis=1) * sw[:, None]          # (n, c)
        self.n_linear = len(self.slope_names) + len(self.const_names)
        self._onehot = np.stack([(data.level == j) for j in range(J)], axis=1).astype(float)
        self.bounds = prior_box(float(data.loss.min()), float(data.loss.max()), form)
        self._flat_rss = self._rss_const_only()
        # log of the data axis at: every level, D0, D_ref (Box-Cox works on log x)
        x = np.concatenate([data.levels, [self.d0, data.levels[-1]]]).astype(float)
        self._lx = np.log(x if form == "power" else np.log(x))
        CtC = self._const.T @ self._const
        self._Kc = np.linalg.pinv(CtC)
        self._Cty = self._const.T @ self._y
        self._beta_flat = self._Kc @ self._Cty

    # ------------------------------------------------------------------ linear algebra
    def elbows(self, theta: np.ndarray) -> np.ndarray:
        """Elbow of every data level, then E(D0): shape (G, J + 1).

        A lean copy of :meth:`AnchoredLaw.elbows` (this is the inner loop of every fit).
        """
        theta = np.atleast_2d(theta)
        a = theta[:, 2:3]
        small = np.abs(a) < 1e-6
        safe = np.where(small, 1.0, a)
        s = np.expm1(safe * self._lx[None, :]) / safe                 # (G, J + 2)
        if small.any():
            s = np.where(small, self._lx + 0.5 * a * self._lx**2, s)
        frac = (s[:, :-1] - s[:, -2:-1]) / (s[:, -1:] - s[:, -2:-1])
        frac[:, -1] = 0.0
        return theta[:, :1] + (theta[:, 1:2] - theta[:, :1]) * frac

    def _slope_columns(self, theta: np.ndarray) -> np.ndarray:
        """ReLU columns (G, n, s), already multiplied by sqrt(weight)."""
        E = self.elbows(theta)                                        # (G, J+1)
        R = np.maximum(E[:, self.data.level] - self.data.loss[None, :], 0.0)   # (G, n)
        R = R * self._sw[None, :]
        if self.shared_ab:
            return R[:, :, None]
        cols = R[:, :, None] * self._onehot[None, :, :]
        if self.has_fewshot:  # few-shot slope = mean of the level slopes (Delta-like base B_fs)
            fs = self.data.is_fewshot.astype(float)
            cols = cols + (R * fs[None, :])[:, :, None] / self.J
        return cols

    def _rss_const_only(self) -> float:
        X = self._const
        beta, *_ = np.linalg.lstsq(X, self._y, rcond=None)
        r = self._y - X @ beta
        return float(r @ r)

    def solve(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best linear parameters and RSS for each theta: ``(beta (G, p), rss (G,))``.

        ``beta`` is ordered slopes first, then the constant columns.
        """
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if self.shared_ab:
            return self._solve_shared(theta)[:2]
        return self._solve_general(theta)

    def _solve_shared(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One slope: eliminate the constant columns (Schur complement), O(G n c) work.

        Also returns the weighted ReLU column ``R`` so residuals need not recompute it.
        """
        E = self.elbows(theta)
        R = np.maximum(E[:, self.data.level] - self.data.loss[None, :], 0.0) * self._sw
        a = np.einsum("gn,gn->g", R, R)
        b = R @ self._const                                           # (G, c)
        d = R @ self._y
        bK = b @ self._Kc                                             # (G, c)
        denom = a - np.einsum("gc,gc->g", bK, b)
        num = d - bK @ self._Cty
        ok = (denom > 1e-12 * np.maximum(a, 1e-300)) & (num > 0)
        A = np.where(ok, num / np.where(ok, denom, 1.0), 0.0)
        consts = self._beta_flat[None, :] - A[:, None] * bK
        rss = self._flat_rss - np.where(ok, num * A, 0.0)
        beta = np.concatenate([A[:, None], consts], axis=1)
        return beta, np.maximum(rss, 1e-300), R

    def _solve_general(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        S = self._slope_columns(theta)                                # (G, n, s)
        G, n, s = S.shape
        X = np.concatenate([S, np.broadcast_to(self._const, (G, n, self._const.shape[1]))],
                           axis=2)
        XtX = np.einsum("gnp,gnq->gpq", X, X)
        Xty = np.einsum("gnp,n->gp", X, self._y)
        p = XtX.shape[1]
        ridge = 1e-10 * (np.trace(XtX, axis1=1, axis2=2) / p)[:, None, None] + 1e-14
        eye = np.eye(p)[None]
        beta = np.linalg.solve(XtX + ridge * eye, Xty[:, :, None])[:, :, 0]
        slope_ok = beta[:, :s] > 0
        bad = ~slope_ok.all(axis=1)
        if bad.any():  # set negative slopes to zero, refit the rest
            mask = np.concatenate([slope_ok[bad], np.ones((bad.sum(), p - s), bool)], axis=1)
            m = mask.astype(float)
            M = XtX[bad] * m[:, :, None] * m[:, None, :] + (1.0 - m)[:, :, None] * eye
            b = np.linalg.solve(M + ridge[bad] * eye, (Xty[bad] * m)[:, :, None])[:, :, 0]
            beta[bad] = b * m
        rss = (self._yy - 2.0 * np.einsum("gp,gp->g", beta, Xty)
               + np.einsum("gp,gpq,gq->g", beta, XtX, beta))
        rss = np.maximum(rss, 1e-300)
        return beta, rss

    def rss_one(self, theta: np.ndarray) -> float:
        """RSS at a single theta with as few numpy calls as possible (simplex polish loop)."""
        if not self.shared_ab:
            return float(self.solve(theta)[1][0])
        e0, eref, a = float(theta[0]), float(theta[1]), float(theta[2])
        lx = self._lx
        s = np.expm1(a * lx) / a if abs(a) > 1e-6 else lx + 0.5 * a * lx * lx
        s0, sr = s[-2], s[-1]
        E = e0 + (eref - e0) * (s[:-1] - s0) / (sr - s0)
        E[-1] = e0
        R = np.maximum(E[self.data.level] - self.data.loss, 0.0) * self._sw
        a_ = float(R @ R)
        b = R @ self._const
        d = float(R @ self._y)
        bK = b @ self._Kc
        denom = a_ - float(bK @ b)
        num = d - float(bK @ self._Cty)
        if denom > 1e-12 * max(a_, 1e-300) and num > 0:
            return max(self._flat_rss - num * num / denom, 1e-300)
        return self._flat_rss

    def rss(self, theta: np.ndarray) -> np.ndarray:
        return self.solve(theta)[1]

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """Weighted residuals ``sqrt(w) (y - fit)`` at one theta (1-D) or a batch (G, n)."""
        theta = np.asarray(theta, dtype=float)
        single = theta.ndim == 1
        theta = np.atleast_2d(theta)
        if self.shared_ab:
            beta, _, R = self._solve_shared(theta)
            r = self._y[None, :] - beta[:, :1] * R - beta[:, 1:] @ self._const.T
        else:
            beta, _ = self.solve(theta)
            S = self._slope_columns(theta)
            r = (self._y[None, :] - np.einsum("gns,gs->gn", S, beta[:, :S.shape[2]])
                 - beta[:, S.shape[2]:] @ self._const.T)
        return r[0] if single else r

    # ------------------------------------------------------------------ likelihoods
    def loglik_from_rss(self, rss: np.ndarray | float) -> np.ndarray:
        """Log-likelihood at the profiled linear parameters.

        Quasi-binomial: row ``i`` is Gaussian with variance ``phi / w_i`` (``w`` the binomial
        weights), ``phi`` profiled out at ``RSS / n``: the Gaussian's formula on the weighted
        residuals plus the weights' Jacobian ``1/2 sum log w``.
        """
        n = self.data.n
        rss = np.asarray(rss, dtype=float)
        if self.likelihood == "gaussian":
            return -0.5 * n * (np.log(2.0 * np.pi * rss / n) + 1.0)
        if self.likelihood == "quasi-binomial":
            return (-0.5 * n * (np.log(2.0 * np.pi * rss / n) + 1.0)
                    + 0.5 * float(np.sum(np.log(self.data.weight))))
        return -0.5 * rss + 0.5 * float(np.sum(np.log(self.data.weight / (2.0 * np.pi))))

    def loglik(self, theta: np.ndarray) -> np.ndarray:
        return self.loglik_from_rss(self.rss(theta))

    @property
    def flat_loglik(self) -> float:
        """Log-likelihood of the model with no rise at all (every slope 0)."""
        return float(self.loglik_from_rss(self._flat_rss))

    def in_bounds(self, theta: np.ndarray) -> np.ndarray:
        theta = np.atleast_2d(theta)
        b = self.bounds
        return np.all((theta >= b[:, 0]) & (theta <= b[:, 1]), axis=1)

    def log_posterior(self, theta: np.ndarray) -> np.ndarray:
        """Log posterior kernel of theta (uniform prior on the bounds box), batched.

        Gaussian: sigma has the prior 1/sigma and is integrated out, giving
        ``-(n - p)/2 * log RSS`` at the profiled linear parameters. Quasi-binomial: the same
        with the weighted RSS (the dispersion ``phi = sigma^2`` integrated out under
        ``1/phi``, the same prior). Binomial: ``-RSS/2`` (variances known).
        """
        theta = np.atleast_2d(theta)
        ok = self.in_bounds(theta)
        out = np.full(theta.shape[0], -np.inf)
        if ok.any():
            rss = self.rss(theta[ok])
            if self.likelihood in ("gaussian", "quasi-binomial"):
                out[ok] = -0.5 * (self.data.n - self.n_linear) * np.log(rss)
            else:
                out[ok] = -0.5 * rss
        return out

    def linear_params(self, beta: np.ndarray) -> dict[str, float]:
        names = self.slope_names + self.const_names
        return {k: float(v) for k, v in zip(names, np.ravel(beta), strict=True)}

    def sigma(self, rss: float) -> float:
        """Residual standard deviation (Gaussian) or the RMS of standardised residuals."""
        return float(np.sqrt(rss / self.data.n))

    def dispersion(self, rss: float) -> float:
        """Pearson dispersion ``RSS / (n - p)`` of the weighted residuals, ``p`` counting the
        linear parameters and the three of theta: the quasi-binomial's estimate of ``phi``
        (its variances are ``phi p(1-p)/n``); for the binomial a check of its assumption
        ``phi = 1``. Not floored at 1 (as in statsmodels): phi < 1 is what under-dispersed
        rows (one fixed test set, items of mixed difficulty) give, and a floor would make the
        MLE's phi disagree with the one the MCMC integrates over."""
        return float(rss / max(self.data.n - self.n_linear - 3, 1))
