"""``EmergenceLaw``: configure, then ``fit(observations, task)`` -> :class:`EmergenceFit`.

scikit-learn's convention: ``__init__`` only stores its arguments (``get_params``,
``set_params`` and ``sklearn.base.clone`` work), ``fit`` checks them first (a bad one is a
:class:`~emergence_law.errors.SettingError`, a ``ValueError`` naming the parameter) and returns
the result; ``validate_params()`` runs the same check without data (the CLI refuses a bad option
before reading a table).

The estimator checks that the data can identify an emergence point at all before it reports one
(fewer than two data levels, no level ever above chance, no level ever at chance, or a fit no
better than a flat line raise :class:`NotIdentifiableError`), fits the MLE with a global
multi-start search, then adds the posterior (MCMC or bootstrap) when asked.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from emergence_law.errors import NotIdentifiableError, SettingError
from emergence_law.fitting.bootstrap import UNITS
from emergence_law.fitting.diagnostics import check as check_diagnostics
from emergence_law.fitting.diagnostics import check_point_mass
from emergence_law.fitting.mle import fit_mle
from emergence_law.fitting.model import LIKELIHOODS, ProfileModel, prepare_data
from emergence_law.fitting.result import DATA_COLUMNS, EmergenceFit
from emergence_law.laws import FORMS
from emergence_law.observations import load_observations, select_task
from emergence_law.settings import EstimatorParams

POSTERIORS = ("mcmc", "bootstrap", "none")
#: a fit must beat the flat (no-rise) model by this many log-likelihood units
MIN_LOGLIK_GAIN = 5.0
#: z-score above chance that counts as "risen" in the identifiability checks
RISE_Z = 3.0
#: an elbow in loss needs checkpoints at this many different losses (2 fit any elbow between)
MIN_DISTINCT_LOSSES = 3
#: an E(D0) MLE this close (nats) to the least few-shot loss is at the data's edge, not beyond
#: (public: ``emergence_law.fitting.EDGE_NATS``; the lab and the design read the same limit)
EDGE_NATS = 0.02


def at_data_edge(e0: float | np.ndarray, fewshot_loss_min: float) -> np.ndarray | np.bool_:
    """Whether E(D0) (a number or an array, elementwise) sits within :data:`EDGE_NATS` of the
    few-shot rows' least loss: a bound ('no earlier than the data'), not an extrapolation. The
    fit's warning, the lab's summary, the design and the report all judge it here."""
    return np.abs(np.asarray(e0, dtype=float) - fewshot_loss_min) <= EDGE_NATS

Progress = Callable[[str, int, int], None]


class IdentifiabilityWarning(UserWarning):
    """The emergence point is only weakly pinned down by the data."""


#: the constructor's arguments, in order (get_params, set_params, repr)
_PARAMS = ("form", "d0", "likelihood", "shared_ab", "posterior", "n_samples", "seed",
           "bootstrap_unit", "n_walkers")


def _number(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _whole(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


class EmergenceLaw(EstimatorParams):
    """Emergence law ``Perf = B + A ReLU(E(D) - L)`` (+ Delta few-shot at D0), fitted by MLE.

    Parameters follow the API contract in docs/core.md: ``form`` (``log_power``, ``power``,
    ``no_fewshot``), ``d0`` (default: the few-shot rows' ``shots``), ``likelihood``
    (``gaussian`` with fitted sigma, ``binomial``, or ``quasi-binomial``: binomial variances
    times a fitted dispersion), ``shared_ab``, ``posterior``
    (``mcmc``, ``bootstrap``, ``none``), ``n_samples`` draws, ``seed``, and
    ``bootstrap_unit`` (``parametric``, ``checkpoint``, ``residual``).
    """

    PARAMS = _PARAMS

    def __init__(self, form: str = "log_power", d0: float | None = None,
                 likelihood: str = "gaussian", shared_ab: bool = True, posterior: str = "mcmc",
                 n_samples: int = 2000, seed: int = 0, bootstrap_unit: str = "parametric",
                 n_walkers: int = 32) -> None:
        self.form = form
        self.d0 = d0
        self.likelihood = likelihood
        self.shared_ab = shared_ab
        self.posterior = posterior
        self.n_samples = n_samples
        self.seed = seed
        self.bootstrap_unit = bootstrap_unit
        self.n_walkers = n_walkers

    def validate_params(self) -> EmergenceLaw:
        """Refuse a bad setting with a :class:`SettingError` naming the parameter; ``fit`` calls
        it first, callers that want to refuse before reading data call it themselves."""
        if self.form not in FORMS:
            raise SettingError("form", f"unknown form {self.form!r} (use {', '.join(FORMS)})")
        if self.likelihood not in LIKELIHOODS:
            raise SettingError("likelihood", f"unknown likelihood {self.likelihood!r} "
                               f"(use {', '.join(LIKELIHOODS)})")
        if self.posterior not in POSTERIORS:
            raise SettingError("posterior", f"unknown posterior {self.posterior!r} "
                               f"(use {', '.join(POSTERIORS)})")
        if not (_number(self.n_samples) and self.n_samples >= 10):
            raise SettingError("n_samples", f"need at least 10 samples, got {self.n_samples}")
        d0 = self.d0
        if d0 is not None and not (_number(d0) and np.isfinite(d0) and d0 > 0):
            raise SettingError("d0", f"D0 must be a positive finite number, got {d0}")
        if not (_whole(self.seed) and 0 <= self.seed < 2**32):
            raise SettingError("seed", f"must be a whole number from 0 to 2**32 - 1, "
                               f"got {self.seed}")
        if self.bootstrap_unit not in UNITS:
            raise SettingError("bootstrap_unit", f"unknown unit {self.bootstrap_unit!r} "
                               f"(use {', '.join(UNITS)})")
        if not (_whole(self.n_walkers) and self.n_walkers >= 6):
            raise SettingError("n_walkers", "need at least 6 walkers (twice the 3 sampled "
                               f"parameters), got {self.n_walkers}")
        return self

    # ------------------------------------------------------------------
    def _resolve_d0(self, rows: pd.DataFrame, notes: list[str]) -> float:
        if self.d0 is not None:
            d0 = float(self.d0)
        else:
            shots = rows.loc[rows["setting"] == "fewshot", "shots"].dropna()
            if shots.empty:
                raise SettingError("d0", "no few-shot rows to take D0 (shots) from; set D0")
            counts = shots.astype(int).value_counts()
            d0 = float(counts.idxmax())
            if len(counts) > 1:
                notes.append(f"few-shot rows have several shot counts; D0 = {d0:g} "
                             "(the most common)")
        if self.form != "power" and d0 < 2:
            notes.append(f"D0 = {d0:g} makes log D0 <= 0 in the log power law; using D0 = 2")
            d0 = 2.0
        return d0

    def _check_data(self, data, task: str) -> None:
        """Refuse tables that cannot locate an elbow (see module docstring)."""
        n_loss = int(np.unique(data.loss).size)
        if n_loss < MIN_DISTINCT_LOSSES:
            raise NotIdentifiableError(
                f"task {task!r}: the rows have {n_loss} distinct loss value(s) "
                f"({', '.join(f'{x:g}' for x in np.unique(data.loss)[:3])}); an elbow in loss "
                f"needs checkpoints at {MIN_DISTINCT_LOSSES} or more different losses")
        if len(data.levels) == 0:  # said "0 finetuning data level(s)" with no way on
            raise NotIdentifiableError(
                f"task {task!r}: no finetuned rows (few-shot only); the emergence law needs "
                "finetuning at 2 or more levels of n_train. For few-shot-only data use "
                "ground-truth (the few-shot elbow), ladder (forecast a larger model from "
                "smaller ones) or backtest --method two_step")
        if len(data.levels) < 2:
            raise NotIdentifiableError(
                f"task {task!r}: {len(data.levels)} finetuning data level(s) "
                f"({', '.join(f'{d:g}' for d in data.levels) or 'none'}); the emergence law "
                "needs at least 2 levels of n_train to extrapolate to D0")
        ft = ~data.is_fewshot
        if data.chance is None:
            return
        ch = np.clip(data.chance, 1e-3, 1 - 1e-3)
        n = np.where(np.isfinite(data.n_eval), data.n_eval, 100.0)
        # noise scale: binomial, or if larger (subset noise) the spread of the values below
        # chance, which only noise puts there (risen rows do not)
        low = data.value[ft][data.value[ft] < ch] - ch
        spread = float(np.sqrt(np.mean(low**2))) if low.size >= 5 else 0.0
        z = (data.value - ch) / np.maximum(np.sqrt(ch * (1 - ch) / n), spread)
        above = z > RISE_Z
        # "some row rose": one-sided test at family-wise level 1% over the finetuned rows
        from scipy.stats import norm

        z_any = float(norm.isf(0.01 / max(int(ft.sum()), 1)))
        if not (z[ft] > z_any).any():
            # could any score have counted as a rise? a perfect 1.0 at these eval sizes
            z_best = (1.0 - ch) / np.maximum(np.sqrt(ch * (1 - ch) / n), spread)
            if not (z_best[ft] > z_any).any():
                raise NotIdentifiableError(
                    f"task {task!r}: the data are power-limited: with n_eval up to "
                    f"{np.nanmax(n[ft]):g} even a perfect score would be only "
                    f"{float(np.max(z_best[ft])):.1f} standard errors above chance "
                    f"({data.chance:g}), short of the {z_any:.1f} a rise needs here; "
                    "evaluate on more examples (n_eval)")
            raise NotIdentifiableError(
                f"task {task!r}: no finetuned data level ever rises above chance "
                f"({data.chance:g}); the elbows cannot be located (use more capable "
                "checkpoints or more finetuning data)")
        if above[ft].all():
            raise NotIdentifiableError(
                f"task {task!r}: every finetuned value is above chance ({data.chance:g}); "
                "the elbows lie beyond the weakest checkpoint (add weaker checkpoints)")

    def fit(self, observations: pd.DataFrame, task: str, *, min_loss: float | None = None,
            metric: str | None = None, series: str | None = None, method: str | None = None,
            progress: Progress | None = None) -> EmergenceFit:
        """Fit the law to ``task``'s rows (only checkpoints with ``loss >= min_loss`` if set).

        The settings are checked first (:meth:`validate_params`)."""
        self.validate_params()
        obs = load_observations(observations)
        sel = select_task(obs, task, metric=metric, series=series, method=method)
        notes: list[str] = []
        d0 = self._resolve_d0(sel.rows, notes)
        data = prepare_data(sel.rows, form=self.form, likelihood=self.likelihood,
                            min_loss=min_loss)
        self._check_data(data, task)
        model = ProfileModel(data, form=self.form, d0=d0, likelihood=self.likelihood,
                             shared_ab=self.shared_ab)
        if progress:
            progress("MLE", 0, 1)
        mle = fit_mle(model)
        if progress:
            progress("MLE", 1, 1)
        gain = mle.loglik - model.flat_loglik
        if gain < MIN_LOGLIK_GAIN:
            raise NotIdentifiableError(
                f"task {task!r}: the emergence law fits no better than a flat line "
                f"(log-likelihood gain {gain:.2f} < {MIN_LOGLIK_GAIN}); no data level shows a "
                "clear rise, so no emergence point can be estimated")
        notes += self._fit_notes(model, mle.theta)

        fit = self._make_fit(model, mle, task, min_loss, notes, sel.describe())
        fit.metric, fit.method = sel.metric, sel.method
        if self.posterior == "mcmc":
            from emergence_law.fitting.mcmc import sample_posterior

            cb = (lambda i, n: progress("MCMC", i, n)) if progress else None
            res = sample_posterior(model, mle.theta, n_samples=int(self.n_samples),
                                   n_walkers=int(self.n_walkers), seed=int(self.seed),
                                   progress=cb)
            fit.emergence_samples = res.theta[:, 0].copy()
            fit.posterior = {"method": "mcmc", **res.settings}
            fit.diagnostics.update(res.diagnostics)
            fit.warnings += check_diagnostics(res.diagnostics)  # warns, respecting filters
            fit.warnings += check_point_mass(fit.emergence_samples, "MCMC")
        elif self.posterior == "bootstrap":
            from emergence_law.fitting.bootstrap import bootstrap_posterior

            cb = (lambda i, n: progress("bootstrap", i, n)) if progress else None
            res = bootstrap_posterior(model, mle.theta, mle.beta, n_samples=int(self.n_samples),
                                      unit=self.bootstrap_unit, seed=int(self.seed), progress=cb)
            fit.emergence_samples = res.theta[:, 0].copy()
            fit.posterior = {"method": "bootstrap", **res.settings}
            # replicates are independent draws: ESS = their number; R-hat does not apply
            fit.diagnostics.update({"rhat": None, "ess": float(len(res.theta)),
                                    **res.diagnostics})
            fit.warnings += check_point_mass(fit.emergence_samples, "bootstrap",
                                             res.diagnostics.get("fraction_at_bounds"))
        return fit

    def _fit_notes(self, model: ProfileModel, theta: np.ndarray) -> list[str]:
        notes = []
        b = model.bounds
        for i, name in ((0, "E(D0)"), (1, "E(D_ref)")):
            if theta[i] <= b[i, 0] + 1e-3 or theta[i] >= b[i, 1] - 1e-3:
                notes.append(f"the MLE of {name} = {theta[i]:.3f} sits at the edge of its search "
                             f"range [{b[i, 0]:.3f}, {b[i, 1]:.3f}]: the data only say the elbow "
                             "lies beyond the checkpoints used; this is a bound, not an estimate")
        if theta[2] <= b[2, 0] + 1e-3 or theta[2] >= b[2, 1] - 1e-3:
            notes.append(f"alpha = {theta[2]:.3g} sits at its bound [{b[2, 0]:g}, {b[2, 1]:g}]: "
                         "the curvature of E(D) is not pinned down; treat E(D0) with caution")
        if model.has_fewshot:
            fs_min = float(model.data.loss[model.data.is_fewshot].min())
            if at_data_edge(theta[0], fs_min):
                notes.append(
                    f"the MLE of E(D0) = {theta[0]:.3f} sits at the least loss of the few-shot "
                    f"rows ({fs_min:.3f}): they only say the elbow lies beyond them, and the fit "
                    "puts it right there; read it as 'no earlier than the data', and see the "
                    "posterior for how much further it may be")
        E = model.elbows(theta[None, :])[0]
        lmax, lmin = float(model.data.loss.max()), float(model.data.loss.min())
        beyond = [f"{d:g}" for d, e in zip(model.data.levels, E[:-1], strict=True) if e >= lmax]
        if beyond:
            notes.append(f"the elbow of data level(s) D = {', '.join(beyond)} lies beyond the "
                         f"weakest checkpoint (loss {lmax:.3f}): located by extrapolation only")
        below = [f"{d:g}" for d, e in zip(model.data.levels, E[:-1], strict=True) if e <= lmin]
        if below:
            notes.append(f"data level(s) D = {', '.join(below)} never rise in the data: their "
                         "elbow is only bounded")
        for n in notes:
            warnings.warn(n, IdentifiabilityWarning, stacklevel=3)  # the caller of fit()
        return notes

    def _make_fit(self, model: ProfileModel, mle, task: str, min_loss: float | None,
                  notes: list[str], selection: str) -> EmergenceFit:
        params = model.law.paper_params(mle.theta)
        params.update(model.linear_params(mle.beta))
        params["sigma"] = model.sigma(mle.rss)
        params["E_D0"] = float(mle.theta[0])
        params["E_ref"] = float(mle.theta[1])
        params["D_ref"] = float(model.law.d_ref)
        rows = model.data.rows
        cols = [c for c in DATA_COLUMNS if c in rows.columns]
        # Pearson ratio: quasi-binomial's phi; the binomial's check of phi = 1; none for gaussian
        dispersion = None if self.likelihood == "gaussian" else model.dispersion(mle.rss)
        return EmergenceFit(
            task=task, form=self.form, d0=model.d0, d_ref=model.law.d_ref,
            likelihood=self.likelihood, shared_ab=self.shared_ab, theta=mle.theta.copy(),
            params=params, loglik=mle.loglik, dispersion=dispersion, n_obs=model.data.n,
            levels=[float(x) for x in model.data.levels],
            posterior={"method": "none"},
            diagnostics={"rhat": None, "ess": None,
                         "loglik_gain_over_flat": float(mle.loglik - model.flat_loglik),
                         "mle_evaluations": mle.n_evals},
            warnings=list(notes), data=rows[cols].copy(), min_loss=min_loss,
            chance=model.data.chance, selection=selection,
        )
