"""Typed results of the PassUntil commands: ``passuntil fit`` and ``passuntil curvature``.

``passuntil_fit.json`` is the prediction (:class:`~emergence_law.passuntil.law.LawPrediction`'s
fields at the top level, as readers and the README quote them), the task, its sampling design,
and the fitted law (``fit``: :meth:`TaskScalingLaw.to_dict`, kept as a nested record);
``passuntil_curvature.json`` is the growth-model comparison. The demo and the report read these
files only through these types.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from emergence_law.results.base import Result, TableResult
from emergence_law.results.optional import OmitsAbsent


@dataclasses.dataclass
class PassUntilFit(Result):
    """The task scaling law fitted to PassUntil counts and its predicted pass rate."""

    KIND = "passuntil_fit"
    FILES = {"json": "passuntil_fit.json", "plot": "passuntil_fit.png"}

    target_params: float
    predicted_pass_rate: float
    interval: list[float]
    level: str
    confidence: float
    task: str
    design: str
    #: the fitted law as :meth:`TaskScalingLaw.to_dict` writes it (c, alpha, models, ...)
    fit: dict[str, Any]
    size_scatter: float = 0.0
    warnings: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def from_law(cls, law: Any, prediction: Any, task: str, design: str) -> PassUntilFit:
        """From a fitted :class:`TaskScalingLaw` and its :class:`LawPrediction`."""
        return cls(**prediction.to_dict(), task=task, design=design, fit=law.to_dict())

    def prediction(self) -> Any:
        """The prediction as the library's :class:`LawPrediction` (for its summary)."""
        from emergence_law.passuntil.law import LawPrediction

        return LawPrediction(self.target_params, self.predicted_pass_rate, list(self.interval),
                             self.level, self.confidence, self.size_scatter,
                             list(self.warnings))

    @property
    def converged(self) -> bool | None:
        """Whether the pooled fit's optimiser reported convergence (None: not a pooled fit)."""
        pop = self.fit.get("population")
        return None if pop is None else bool(pop.get("converged"))

    def summary(self) -> str:
        return f"{self.task}: {self.design}\n{self.prediction().summary()}"

    def to_frame(self) -> Any:
        """One row: the task, level, target, prediction with its interval, and c, alpha."""
        import pandas as pd

        lo, hi = self.interval
        return pd.DataFrame([{"task": self.task, "level": self.level,
                              "target_params": self.target_params,
                              "predicted_pass_rate": self.predicted_pass_rate,
                              "lower": lo, "upper": hi, "confidence": self.confidence,
                              "size_scatter": self.size_scatter, "c": self.fit.get("c"),
                              "alpha": self.fit.get("alpha")}])


@dataclasses.dataclass
class PassUntilCurvature(OmitsAbsent, Result):
    """Linear, multi-step and multiple-circuits growth models ranked by AIC, and the
    curvature test of log(-log PU) in log N."""

    KIND = "passuntil_curvature"
    FILES = {"json": "passuntil_curvature.json"}
    OPTIONAL = ("curvature",)

    task: str
    best: str
    x_centre: float
    #: one record per growth model: name, params, log_likelihood, k, aic, bic
    models: list[dict[str, Any]]
    #: :class:`CurvatureResult`'s fields (quadratic, se, p_value, shape, ...), when tested
    curvature: dict[str, Any] | None = None

    @classmethod
    def from_comparison(cls, task: str, comparison: Any) -> PassUntilCurvature:
        """From :func:`~emergence_law.passuntil.curvature.compare_growth_models`'s result."""
        return cls(task=task, **comparison.to_dict())

    def comparison(self) -> Any:
        """The library's :class:`GrowthComparison` again (its ``predict`` and summary)."""
        from emergence_law.passuntil.curvature import (
            CurvatureResult,
            GrowthComparison,
            GrowthFit,
        )

        curv = CurvatureResult(**self.curvature) if self.curvature is not None else None
        return GrowthComparison([GrowthFit(**m) for m in self.models], self.best,
                                self.x_centre, curv)

    def summary(self) -> str:
        return f"{self.task}: {self.comparison().summary()}"

    def to_frame(self) -> Any:
        """One row per growth model (AIC order), the task beside it."""
        import pandas as pd

        frame = pd.DataFrame(self.models).drop(columns="params", errors="ignore")
        return frame.sort_values("aic").assign(task=self.task).reset_index(drop=True)


@dataclasses.dataclass
class PassKTable(TableResult):
    """``passk.csv`` of ``passuntil passk``: per model and k, unbiased pass@k with its interval
    and the fitted distribution's pass@k (columns of :func:`~emergence_law.passuntil.passk.
    passk_table`)."""

    KIND: ClassVar[str] = "passk"
    FILES: ClassVar[dict[str, str]] = {"table": "passk.csv"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("model", "params", "k", "unbiased", "distribution")
    FLOAT_FORMAT: ClassVar[str | None] = None  # pass rates down to 1e-7 keep every digit
