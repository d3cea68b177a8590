"""The result of one emergence-law fit: numbers, posterior draws, summary table, JSON, plots.

Self-contained: it keeps the anchored parameters it needs to evaluate the law and the rows it
was fitted on, so a fit loaded from ``fit.json`` can predict and plot without the original table
(reports read fits, they never refit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.errors import DataError
from emergence_law.jsonfile import read_json, write_json
from emergence_law.laws import AnchoredLaw

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
DATA_COLUMNS = ("model", "checkpoint", "loss", "value", "setting", "n_train", "subset", "shots",
                "n_eval", "chance", "flops", "metric", "method")


def _num(x: Any) -> Any:
    """JSON-safe float (NaN/inf become None)."""
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


@dataclass
class EmergenceFit:
    """A fitted emergence law (see :class:`~emergence_law.fitting.EmergenceLaw`).

    ``emergence_point_mle`` is E(D0) at the maximum-likelihood parameters, in nats of
    pretraining loss; ``emergence_samples`` are posterior (MCMC) or bootstrap draws of it.
    """

    task: str
    form: str
    d0: float
    d_ref: float
    likelihood: str
    shared_ab: bool
    theta: np.ndarray
    params: dict[str, float]
    loglik: float
    n_obs: int
    levels: list[float]
    emergence_samples: np.ndarray | None = None
    posterior: dict[str, Any] = field(default_factory=lambda: {"method": "none"})
    diagnostics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    data: pd.DataFrame | None = None
    min_loss: float | None = None
    chance: float | None = None
    selection: str = ""
    metric: str | None = None
    method: str | None = None
    #: Pearson ``RSS / (n - p)`` of the binomially weighted residuals: the quasi-binomial's
    #: dispersion phi, the binomial's check of phi = 1; None for the Gaussian likelihood
    dispersion: float | None = None

    # ------------------------------------------------------------------ the law
    @property
    def law(self) -> AnchoredLaw:
        return AnchoredLaw(self.form, self.d0, self.d_ref)

    @property
    def emergence_point_mle(self) -> float:
        return float(self.theta[0])

    def emergence_point(self, D: float | np.ndarray) -> float | np.ndarray:
        """E(D), the elbow after finetuning on D examples, at the MLE (nats)."""
        out = self.law.elbows(self.theta, np.atleast_1d(np.asarray(D, dtype=float)))[0]
        return float(out[0]) if np.ndim(D) == 0 else out

    def _slope_base(self, n_train: float | None) -> tuple[float, float]:
        p = self.params
        if self.shared_ab:
            base = p["B"] + (p.get("Delta", 0.0) if n_train is None else 0.0)
            return p["A"], base
        slopes = [p[f"A_{int(d)}"] for d in self.levels]
        if n_train is None:
            return float(np.mean(slopes)), p.get("B_fewshot", float(np.mean(
                [p[f"B_{int(d)}"] for d in self.levels])))
        j = int(np.argmin(np.abs(np.log(self.levels) - np.log(n_train))))
        return slopes[j], p[f"B_{int(self.levels[j])}"]

    def predict(self, loss: float | np.ndarray, n_train: float | None = None) -> np.ndarray:
        """Predicted performance at pretraining ``loss``: finetuned on ``n_train`` examples,
        or few-shot (at D0, with Delta) when ``n_train`` is None.

        With per-level A, B the nearest fitted level's A and B are used for other ``n_train``.
        """
        elbow = self.emergence_point(self.d0 if n_train is None else n_train)
        A, base = self._slope_base(n_train)
        return base + A * np.maximum(elbow - np.asarray(loss, dtype=float), 0.0)

    # ------------------------------------------------------------------ the posterior
    @property
    def percentiles(self) -> dict[str, float] | None:
        s = self.emergence_samples
        if s is None or len(s) == 0:
            return None
        return {str(q): float(v) for q, v in zip(PERCENTILES, np.percentile(s, PERCENTILES),
                                                 strict=True)}

    @property
    def median(self) -> float | None:
        s = self.emergence_samples
        return None if s is None or len(s) == 0 else float(np.median(s))

    @property
    def mode(self) -> float | None:
        """Mode of the emergence-point draws (peak of a Gaussian kernel density estimate)."""
        s = self.emergence_samples
        if s is None or len(s) < 2 or np.ptp(s) == 0:
            return None if s is None or len(s) == 0 else float(s[0])
        from scipy.stats import gaussian_kde

        grid = np.linspace(s.min(), s.max(), 512)
        return float(grid[np.argmax(gaussian_kde(s)(grid))])

    def interval(self, level: float = 0.9) -> tuple[float, float] | None:
        """Central posterior interval of E(D0)."""
        s = self.emergence_samples
        if s is None or len(s) == 0:
            return None
        q = 100 * (1 - level) / 2
        lo, hi = np.percentile(s, [q, 100 - q])
        return float(lo), float(hi)

    def cdf(self, x: float | np.ndarray) -> float | np.ndarray:
        """Posterior probability that E(D0) <= x (empirical CDF of the draws)."""
        s = self.emergence_samples
        if s is None or len(s) == 0:
            raise DataError("this fit has no posterior draws (posterior='none')")
        s = np.sort(s)
        out = np.searchsorted(s, np.asarray(x, dtype=float), side="right") / len(s)
        return float(out) if np.ndim(x) == 0 else out

    # ------------------------------------------------------------------ reporting
    def summary(self) -> str:
        """A table like the paper's Table 3, plus the fitted parameters and diagnostics."""
        lines = [f"Emergence law fit: task {self.task!r}, metric {self.metric or '?'}, "
                 f"finetuning method {self.method or '?'}, form {self.form}, D0 = {self.d0:g}, "
                 f"likelihood {self.likelihood}, {self.n_obs} rows"]
        if self.selection:
            lines.append(self.selection)
        method = self.posterior.get("method", "none")
        head = ["", *[f"{q}%" for q in PERCENTILES], "median", "mode", "MLE"]
        pct = self.percentiles
        if pct is not None:
            row = [method, *[f"{pct[str(q)]:.3f}" for q in PERCENTILES],
                   f"{self.median:.3f}", f"{self.mode:.3f}", f"{self.emergence_point_mle:.3f}"]
        else:
            row = [method, *["-"] * (len(PERCENTILES) + 2), f"{self.emergence_point_mle:.3f}"]
        widths = [max(len(a), len(b)) for a, b in zip(head, row, strict=True)]
        lines.append("Few-shot emergence point E(D0), nats of pretraining loss:")
        lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
        lines.append("  ".join(r.rjust(w) for r, w in zip(row, widths, strict=True)))
        ps = ", ".join(f"{k} = {v:.4g}" for k, v in self.params.items() if v is not None)
        lines.append(f"parameters: {ps}")
        lines.append(f"log-likelihood: {self.loglik:.3f}")
        if self.dispersion is not None:
            lines.append(f"dispersion (Pearson chi2 / dof, 1 = binomial): {self.dispersion:.3g}")
        if self.diagnostics:
            ds = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                           for k, v in self.diagnostics.items() if v is not None)
            lines.append(f"diagnostics: {ds}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"EmergenceFit(task={self.task!r}, form={self.form!r}, "
                f"E(D0)={self.emergence_point_mle:.4f}, posterior={self.posterior.get('method')})")

    def to_dict(self, include_samples: bool = True, include_data: bool = True) -> dict[str, Any]:
        """JSON-ready dict; the keys are a contract other tools read (docs/core.md)."""
        s = self.emergence_samples
        ep: dict[str, Any] = {
            "mle": self.emergence_point_mle,
            "median": self.median,
            "percentiles": self.percentiles,
            "interval_90": list(self.interval(0.9)) if s is not None and len(s) else None,
        }
        if include_samples:
            ep["samples"] = None if s is None else [float(v) for v in s]
        out = {
            "task": self.task,
            "metric": self.metric,
            "method": self.method,
            "form": self.form,
            "d0": self.d0,
            "d_ref": self.d_ref,
            "likelihood": self.likelihood,
            "shared_ab": self.shared_ab,
            "emergence_point": ep,
            "mode": self.mode,
            "params": {k: _num(v) for k, v in self.params.items()},
            "theta": {"E_D0": float(self.theta[0]), "E_ref": float(self.theta[1]),
                      "alpha": float(self.theta[2])},
            "loglik": self.loglik,
            "dispersion": _num(self.dispersion),
            "n_obs": self.n_obs,
            "levels": [float(x) for x in self.levels],
            "posterior": self.posterior,
            "diagnostics": {k: (_num(v) if isinstance(v, (float, int, np.floating)) else v)
                            for k, v in self.diagnostics.items()},
            "warnings": list(self.warnings),
            "min_loss": self.min_loss,
            "chance": self.chance,
            "selection": self.selection,
        }
        if include_data and self.data is not None:
            cols = [c for c in DATA_COLUMNS if c in self.data.columns]
            d = self.data[cols].astype(object).where(self.data[cols].notna(), None)
            out["data"] = d.to_dict(orient="list")
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmergenceFit:
        try:
            th = d["theta"]
            ep = d["emergence_point"]
            samples = ep.get("samples")
            data = pd.DataFrame(d["data"]) if d.get("data") is not None else None
            return cls(
                task=d["task"], form=d["form"], d0=float(d["d0"]), d_ref=float(d["d_ref"]),
                likelihood=d.get("likelihood", "gaussian"), shared_ab=d.get("shared_ab", True),
                theta=np.array([th["E_D0"], th["E_ref"], th["alpha"]], dtype=float),
                params={k: (float("nan") if v is None else float(v))
                        for k, v in d["params"].items()},
                loglik=float(d["loglik"]), n_obs=int(d["n_obs"]),
                levels=[float(x) for x in d["levels"]],
                emergence_samples=None if samples is None else np.asarray(samples, dtype=float),
                posterior=d.get("posterior", {"method": "none"}),
                diagnostics=d.get("diagnostics", {}), warnings=d.get("warnings", []),
                data=data, min_loss=d.get("min_loss"), chance=d.get("chance"),
                selection=d.get("selection", ""), metric=d.get("metric"),
                method=d.get("method"),
                dispersion=None if d.get("dispersion") is None else float(d["dispersion"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"not a fit result (missing or bad field {exc})") from exc

    def save(self, path: str | Path) -> Path:
        """Write the ``fit.json`` record to ``path`` (any name: the lab writes
        ``emergence_fit_<method>.json``); a command writes its folder via :meth:`to_result`."""
        return write_json(path, self.to_dict())

    def to_result(self, *, include_samples: bool = True, include_data: bool = True) -> Any:
        """This fit as the typed result :class:`~emergence_law.results.core.FitResult`: it owns
        the files (``fit.json``, ``data_used.csv``) and is what readers load."""
        from emergence_law.results.core import FitResult

        return FitResult.from_fit(self, include_samples=include_samples,
                                  include_data=include_data)

    @classmethod
    def load(cls, path: str | Path) -> EmergenceFit:
        d = read_json(path)
        try:
            return cls.from_dict(d)
        except DataError as exc:
            raise DataError(exc.reason, source=str(path)) from exc

    # ------------------------------------------------------------------ plots
    def plot_fit(self, path: str | Path | None = None, ax: Any = None, *,
                 ground_truth: float | None = None, unused: pd.DataFrame | None = None) -> Any:
        """The paper's Fig. 4: data and fitted ReLU per data level, extrapolated few-shot curve;
        ``ground_truth`` and ``unused`` few-shot rows (past the cut-off) are drawn to check it."""
        from emergence_law.fitting.plots import plot_fit

        return plot_fit(self, path, ax=ax, ground_truth=ground_truth, unused=unused)

    def plot_cdf(self, path: str | Path | None = None, ax: Any = None, *,
                 ground_truth: float | None = None) -> Any:
        """The paper's Fig. 5: CDF of the few-shot emergence point."""
        from emergence_law.fitting.plots import plot_cdf

        return plot_cdf(self, path, ax=ax, ground_truth=ground_truth)

    def plot(self, path: str | Path | None = None) -> Any:
        """Both figures side by side."""
        from emergence_law.fitting.plots import plot_both

        return plot_both(self, path)
