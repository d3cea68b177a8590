"""Data quality: which of two model series emerges first (the paper's Fig. 8/9)?

Each series (e.g. OpenLLaMA V1 and V2, pretrained on different data) gets its own emergence-law
fit with a posterior. The series whose few-shot emergence point lies at the *higher* pretraining
loss emerges first (a weaker model already has the capability), which is what better data buys.

``P(A emerges at a higher loss than B) = P(E_A > E_B)`` is estimated from the two independent
posteriors with the all-pairs (Mann-Whitney) estimator, which uses every draw of both. Its Monte
Carlo error is the delta-method standard error of that U-statistic, with each posterior's
effective sample size in place of its draw count (MCMC draws are autocorrelated):
``var = var_i(F_B(a_i)) / ESS_A + var_j(F_A(b_j)) / ESS_B``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.analysis.ablations import selection_header
from emergence_law.analysis.jobs import quiet_fit
from emergence_law.errors import DataError, SettingError
from emergence_law.jsonfile import write_json
from emergence_law.observations import load_observations


def prob_greater(a: np.ndarray, b: np.ndarray, ess_a: float | None = None,
                 ess_b: float | None = None) -> tuple[float, float]:
    """``P(A > B)`` for independent A ~ draws ``a``, B ~ draws ``b`` (ties count one half), and
    its Monte Carlo standard error."""
    a = np.asarray(a, dtype=float)
    b = np.sort(np.asarray(b, dtype=float))
    a_sorted = np.sort(a)
    # F_B(a_i): share of b below a_i (+ half the ties); G_A(b_j): share of a above b_j
    fb = (np.searchsorted(b, a, "left") + np.searchsorted(b, a, "right")) / (2 * len(b))
    ga = 1 - (np.searchsorted(a_sorted, b, "left") + np.searchsorted(a_sorted, b, "right")) / (
        2 * len(a))
    p = float(fb.mean())
    na = len(a) if ess_a is None else max(min(float(ess_a), len(a)), 2.0)
    nb = len(b) if ess_b is None else max(min(float(ess_b), len(b)), 2.0)
    se = float(np.sqrt(fb.var(ddof=1) / na + ga.var(ddof=1) / nb))
    return p, se


@dataclass
class Comparison:
    """Two series' fits and the probability that A emerges at a higher loss than B."""

    task: str
    series: tuple[str, str]
    fits: tuple[Any, Any]
    p_a_higher: float
    mc_error: float
    ess: tuple[float, float]

    def difference(self) -> dict[str, Any]:
        """E_A - E_B: at the MLEs, and percentiles over independent pairs of draws."""
        a, b = (f.emergence_samples for f in self.fits)
        rng = np.random.default_rng(0)
        n = max(len(a), len(b))
        d = rng.choice(a, n) - rng.choice(b, n)
        qs = (5, 25, 50, 75, 95)
        return {"mle": self.fits[0].emergence_point_mle - self.fits[1].emergence_point_mle,
                "percentiles": {str(q): float(v) for q, v in zip(qs, np.percentile(d, qs),
                                                                  strict=True)}}

    def verdict(self) -> str:
        a, b = self.series
        p = self.p_a_higher
        first, prob = (a, p) if p >= 0.5 else (b, 1 - p)
        if self.mc_error == 0:  # every pair of draws agrees: bound by the rule of three
            bound = 1 - 3 / min(self.ess)
            return (f"{first} emerges first (at a higher pretraining loss): every pair of "
                    f"posterior draws agrees, so the probability exceeds {bound:.3f} "
                    "(rule of three on the effective sample size)")
        return (f"{first} emerges first (at a higher pretraining loss) with probability "
                f"{prob:.3f} +/- {self.mc_error:.3f} (Monte Carlo error)")

    @property
    def metric(self) -> str | None:
        """The metric both series were fitted on."""
        return self.fits[0].metric

    @property
    def ft_method(self) -> str | None:
        """The finetuning method both series were fitted on (None: no finetuned rows)."""
        return self.fits[0].method

    def to_dict(self) -> dict[str, Any]:
        a, b = self.series
        return {
            "task": self.task,
            "metric": self.metric,
            "ft_method": self.ft_method,
            "series": {name: fit.to_dict(include_samples=False, include_data=False)
                       for name, fit in zip(self.series, self.fits, strict=True)},
            "p_a_higher": self.p_a_higher,
            "p_a_higher_mc_error": self.mc_error,
            "question": f"P({a} emerges at a higher loss than {b})",
            "a": a, "b": b,
            "ess": {a: self.ess[0], b: self.ess[1]},
            "difference_a_minus_b": self.difference(),
            "verdict": self.verdict(),
        }

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    def to_result(self) -> Any:
        """The typed ``compare.json`` (:class:`~emergence_law.results.analysis.ComparisonResult`)."""
        from emergence_law.results.analysis import ComparisonResult

        return ComparisonResult.from_dict(self.to_dict())

    def summary(self) -> str:
        sel = selection_header(self.metric, self.ft_method)
        lines = [f"task {self.task}, {sel}: P({self.series[0]} emerges at a higher loss than "
                 f"{self.series[1]}) = {self.p_a_higher:.3f} +/- {self.mc_error:.3f}"]
        for name, fit in zip(self.series, self.fits, strict=True):
            pct = fit.percentiles
            lines.append(f"  {name}: E(D0) MLE {fit.emergence_point_mle:.3f}, median "
                         f"{fit.median:.3f}, 5-95% [{pct['5']:.3f}, {pct['95']:.3f}]")
        lines.append(self.verdict())
        return "\n".join(lines)

    def plot(self, path: str | Path | None = None):
        from emergence_law.analysis.plots import plot_compare

        return plot_compare(self, path)


def compare_series(obs: pd.DataFrame | str | Path, task: str, series_a: str, series_b: str, *,
                   law: dict[str, Any] | None = None, metric: str | None = None,
                   ft_method: str | None = None, min_loss: float | None = None,
                   progress: bool = False) -> Comparison:
    """Fit ``task`` separately on two series and compare their emergence posteriors."""
    import contextlib

    from emergence_law.fitting import EmergenceLaw

    if series_a == series_b:
        raise SettingError("series_b", "give two different series")
    law = {"posterior": "mcmc", "n_samples": 2000, "seed": 0, **(law or {})}
    if law["posterior"] == "none":
        raise SettingError("posterior", "comparing series needs a posterior (mcmc or "
                           "bootstrap)")
    obs = load_observations(obs)
    fits = []
    for s in (series_a, series_b):
        if progress:
            from rich.console import Console

            from emergence_law.fitting.progress import rich_progress

            console = Console(stderr=True)
            console.print(f"series {s}:")
            bars = rich_progress(console)
        else:
            bars = contextlib.nullcontext(None)
        with quiet_fit(), bars as cb:
            fit = EmergenceLaw(**law).fit(obs, task, metric=metric, series=s, method=ft_method,
                                          min_loss=min_loss, progress=cb)
        if fit.emergence_samples is None or len(fit.emergence_samples) == 0:
            raise DataError(f"series {s!r}: the fit returned no posterior draws")
        fits.append(fit)
    ess = tuple(min(float(f.diagnostics.get("ess", len(f.emergence_samples))),
                    float(len(f.emergence_samples))) for f in fits)
    for what, opt in (("metric", "--metric"), ("method", "--ft-method")):
        a_val, b_val = getattr(fits[0], what), getattr(fits[1], what)
        if a_val != b_val:  # a comparison across metrics or methods confounds the data
            label = "metric" if what == "metric" else "finetuning method"
            raise DataError(f"series {series_a!r} is fitted on {label} {a_val} and "
                            f"{series_b!r} on {b_val}; choose one with {opt}")
    p, se = prob_greater(fits[0].emergence_samples, fits[1].emergence_samples, *ess)
    return Comparison(task, (series_a, series_b), (fits[0], fits[1]), p, se, ess)
