"""Loss -> model size and FLOPs (the paper's Fig. 10/15): when, in parameters, will it emerge?

An emergence fit predicts a pretraining loss. A scaling law fitted to a model family turns a loss
into the parameter count that reaches it (and, at a tokens-per-parameter ratio R, into training
FLOPs ~ 6 N D = 6 R N^2). Both steps are uncertain, so each posterior draw of the emergence
point is paired with a bootstrap draw of the scaling law, and the pairs give a posterior over N.

A predicted loss at or below the law's irreducible term E cannot be reached by any finite model:
such draws are counted (``fraction_unreachable``), reported as infinite, and said plainly.
The loss in the scaling table must be the same loss as the emergence fit's x-axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.errors import DataError, EmergenceLawError, SettingError
from emergence_law.jsonfile import read_json, write_json
from emergence_law.scaling import ScalingFit, ScalingLaw, load_scaling_table

PCTS = (5, 10, 25, 50, 75, 90, 95)


def read_emergence_draws(fit_json: str | Path | dict) -> tuple[float, np.ndarray | None, str]:
    """(MLE, posterior draws or None, task) from a ``fit.json`` written by ``emergence-law fit``."""
    if isinstance(fit_json, dict):
        d, src = fit_json, "<fit>"
    else:
        d, src = read_json(fit_json), str(Path(fit_json))
    ep = d.get("emergence_point") if isinstance(d, dict) else None
    if not isinstance(ep, dict) or ep.get("mle") is None:
        raise DataError("not a fit result: no emergence_point.mle", source=src)
    mle = ep["mle"]
    if not (_is_number(mle) and math.isfinite(mle) and mle > 0):
        raise DataError(f"emergence_point.mle must be a positive loss, got {mle!r}", source=src)
    samples = ep.get("samples")
    if samples is not None and not (isinstance(samples, list) and all(
            s is None or (_is_number(s) and math.isfinite(s)) for s in samples)):
        raise DataError("emergence_point.samples must be a list of finite numbers", source=src)
    draws = None if not samples else np.asarray([s for s in samples if s is not None], float)
    return float(mle), draws, str(d.get("task", "?"))


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _pct(x: np.ndarray) -> dict[str, float | None]:
    """Percentiles that may be infinite (unreachable draws); JSON gets None for infinity."""
    with np.errstate(invalid="ignore"):  # inf - inf while interpolating between infinities
        v = np.percentile(x, PCTS) if len(x) else np.full(len(PCTS), np.nan)
    return {str(q): (float(a) if np.isfinite(a) else None) for q, a in zip(PCTS, v, strict=True)}


@dataclass
class SizePosterior:
    """Posterior over the parameter count (and FLOPs) at which the capability emerges."""

    task: str
    emergence_mle: float
    emergence_draws: np.ndarray | None
    scaling: ScalingFit
    tokens_per_param: float
    params_mle: float
    params_draws: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def flops_draws(self) -> np.ndarray:
        return 6.0 * self.tokens_per_param * self.params_draws ** 2

    @property
    def flops_mle(self) -> float:
        return 6.0 * self.tokens_per_param * self.params_mle ** 2

    @property
    def fraction_unreachable(self) -> float:
        return float(np.mean(~np.isfinite(self.params_draws)))

    def message(self) -> str:
        E = self.scaling.params["E"]
        parts = []
        if not np.isfinite(self.params_mle):
            parts.append(f"The MLE emergence loss {self.emergence_mle:.3f} is at or below the "
                         f"scaling law's irreducible loss E = {E:.3f}: no finite model size "
                         "reaches it.")
        else:
            parts.append(f"Emergence at loss {self.emergence_mle:.3f} nats needs about "
                         f"{self.params_mle:.3g} parameters ({self.flops_mle:.3g} FLOPs at "
                         f"{self.tokens_per_param:g} tokens per parameter).")
        f = self.fraction_unreachable
        if f > 0:
            parts.append(f"{100 * f:.1f}% of the posterior draws predict a loss below the "
                         "irreducible term of their scaling-law draw: no finite size reaches "
                         "them (counted as infinite in the percentiles).")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        fin = lambda x: float(x) if np.isfinite(x) else None  # noqa: E731
        em = self.emergence_draws
        return {
            "task": self.task,
            "emergence_loss": {"mle": self.emergence_mle,
                               "percentiles": _pct(em) if em is not None else None,
                               "n_draws": 0 if em is None else int(len(em))},
            "scaling_law": self.scaling.to_dict(),
            "tokens_per_param": self.tokens_per_param,
            "params": {"mle": fin(self.params_mle), "percentiles": _pct(self.params_draws),
                       "fraction_unreachable": self.fraction_unreachable},
            "flops": {"mle": fin(self.flops_mle), "percentiles": _pct(self.flops_draws),
                      "formula": "6 * tokens_per_param * params^2"},
            "n_draws": int(len(self.params_draws)),
            "message": self.message(),
            "notes": list(self.notes),
        }

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    def to_result(self) -> Any:
        """The typed ``to_params.json`` (:class:`~emergence_law.results.analysis.ToParamsResult`)."""
        from emergence_law.results.analysis import ToParamsResult

        return ToParamsResult.from_dict(self.to_dict())

    def summary(self) -> str:
        p = self.to_dict()["params"]["percentiles"]
        show = lambda v: "unreachable" if v is None else f"{v:.3g}"  # noqa: E731
        return (f"task {self.task}: parameters at emergence 5% {show(p['5'])}, median "
                f"{show(p['50'])}, 95% {show(p['95'])}\n{self.message()}")

    def plot(self, path: str | Path | None = None):
        from emergence_law.analysis.plots import plot_to_params

        return plot_to_params(self, path)


def choose_form(table: pd.DataFrame, form: str) -> str:
    """``auto``: Chinchilla when every row has tokens and tokens/params varies (> 2x), else L(N).

    Tokens that are the same on every row carry no information about D (tokens/params then
    varies only because params does), so they give L(N) too."""
    if form in ("size", "chinchilla"):
        return form
    if form != "auto":
        raise SettingError("law", f"use auto, size or chinchilla, not {form!r}")
    t = table["tokens"].to_numpy(dtype=float)
    if np.isnan(t).any():
        return "size"
    if t.max() <= t.min() * (1 + 1e-9):
        return "size"
    ratio = t / table["params"].to_numpy(dtype=float)
    return "chinchilla" if ratio.max() > 2 * ratio.min() else "size"


def _fit_scaling(table: pd.DataFrame, form: str, n_bootstrap: int, seed: int,
                 progress: bool) -> ScalingFit:
    """The scaling-law fit with its bootstrap (a progress bar on stderr when asked)."""
    if not progress:
        return ScalingLaw(form, n_bootstrap=n_bootstrap, seed=seed).fit_table(table)
    from emergence_law.progress import progress_bar

    bars = progress_bar(stderr=True, remaining=False)
    task_id = bars.add_task("scaling-law bootstrap", total=n_bootstrap)
    with bars:
        return ScalingLaw(form, n_bootstrap=n_bootstrap, seed=seed).fit_table(
            table, progress=lambda i, n: bars.update(task_id, completed=i, total=n))


def loss_to_params(fit_json: str | Path | dict, scaling: str | Path | pd.DataFrame, *,
                   tokens_per_param: float = 20.0, law: str = "auto", n_bootstrap: int = 200,
                   seed: int = 0, progress: bool = False) -> SizePosterior:
    """Posterior over N (and FLOPs) at the predicted emergence loss, both fits' uncertainty in."""
    if not tokens_per_param > 0:
        raise SettingError("tokens_per_param", f"must be positive, got {tokens_per_param}")
    if n_bootstrap < 10:
        raise SettingError("n_bootstrap", f"need at least 10 resamples, got {n_bootstrap}")
    mle, draws, task = read_emergence_draws(fit_json)
    table = load_scaling_table(scaling)
    form = choose_form(table, law)
    try:
        sfit = _fit_scaling(table, form, n_bootstrap, seed, progress)
    except EmergenceLawError as exc:
        if law != "auto" or form != "chinchilla":
            raise
        raise SettingError("law", f"auto chose chinchilla (tokens/params varies) and its fit "
                           f"failed: {exc}; try --law size") from exc
    notes = [f"scaling law: {sfit.to_dict()['law']} fitted to {sfit.n_obs} rows"]
    rng = np.random.default_rng(seed)
    if draws is None or len(draws) == 0:
        notes.append("the fit has no posterior draws: only the scaling law's bootstrap "
                     "uncertainty is propagated")
        em = np.full(len(sfit.bootstrap), mle)
    else:
        em = draws
    boot = sfit.bootstrap[rng.integers(0, len(sfit.bootstrap), len(em))]
    r = tokens_per_param if form == "chinchilla" else None
    n = sfit.size_for_loss(em, r, draws=boot)
    n_mle = float(sfit.size_for_loss(mle, r))
    lo, hi = float(table["params"].min()), float(table["params"].max())
    if np.isfinite(n_mle) and not lo <= n_mle <= hi:
        notes.append(f"the MLE size {n_mle:.3g} lies outside the fitted sizes [{lo:.3g}, "
                     f"{hi:.3g}]: an extrapolation of the scaling law")
    return SizePosterior(task, mle, draws, sfit, float(tokens_per_param), n_mle, n, notes)
