"""The files of the analysis commands as typed results.

``ground-truth`` (``ground_truth.csv``), ``backtest`` (``backtest.csv``), ``ablate``
(``ablations.csv`` and ``.md``), ``compare`` (``compare.json``), ``to-params``
(``to_params.json``) and ``ladder`` (``ladder_forecast.json`` and ``.csv``). The column names
and JSON keys are contracts (README, docs/analysis.md); readers (the report) ask the type,
never the raw file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from emergence_law.atomic import atomic_write_text
from emergence_law.errors import DataError
from emergence_law.results.base import Result, TableResult, table_field
from emergence_law.results.core import FitResult, number, percentiles_of, widest_interval

#: the least FLOPs ratio that is a lead: below 1 the checkpoints' FLOPs do not grow with
#: capability (an OLMo ladder of several sizes and data multiples: a 190M trained 10x has more
#: FLOPs than a 3B at the same loss), so "0.07x in advance" is no forecast ahead of anything
MIN_FLOPS_LEAD = 1.0

if TYPE_CHECKING:
    import pandas as pd


def _is_ok(table: pd.DataFrame) -> pd.Series:
    """Rows whose fit gave a usable prediction (``status`` ok; every row without the column)."""
    import pandas as pd

    if "status" not in table.columns:
        return pd.Series(True, index=table.index)
    return table["status"].astype(str).str.strip().str.lower() == "ok"


def _flag(column: pd.Series) -> pd.Series:
    """A success column as booleans, as written (True/False) or read back from a CSV."""
    return column.astype(str).str.strip().str.lower().isin(("true", "1", "1.0", "yes"))


# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class GroundTruthTable(TableResult):
    """``ground_truth.csv``: one elbow per group (task, group, elbow, lower, upper,
    n_checkpoints, n_pre, model_kind, metric); ``model_kind`` none means no elbow."""

    KIND: ClassVar[str] = "ground_truth"
    FILES: ClassVar[Mapping[str, str]] = {"table": "ground_truth.csv",
                                          "plot": "ground_truth.png"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("task", "group", "elbow", "lower", "upper",
                                           "n_checkpoints", "n_pre", "model_kind", "metric")

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the REQUIRED columns (why a group has no elbow is printed, not stored)."""
        path = Path(out_dir) / self.FILES["table"]
        return {"table": atomic_write_text(path, self.table[list(self.REQUIRED)].to_csv(
            index=False, float_format=self.FLOAT_FORMAT))}

    def fitted(self) -> pd.DataFrame:
        """The groups with an elbow (``model_kind`` not none)."""
        return self.table[self.table["model_kind"].astype(str) != "none"]


@dataclasses.dataclass
class BacktestTable(TableResult):
    """``backtest.csv``: one row per (method, cut-off); columns
    :data:`emergence_law.analysis.backtest.CSV_COLUMNS`."""

    KIND: ClassVar[str] = "backtest"
    FILES: ClassVar[Mapping[str, str]] = {"table": "backtest.csv", "plot": "backtest.png"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("prediction", "error")

    def fitted(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """Rows (of ``frame``, default the table) whose fit gave a prediction."""
        t = self.table if frame is None else frame
        return t[_is_ok(t)]

    @staticmethod
    def succeeded(frame: pd.DataFrame) -> pd.Series:
        """Which rows predicted within the threshold (False without a ``success`` column)."""
        import pandas as pd

        if "success" not in frame.columns:
            return pd.Series(False, index=frame.index)
        return _flag(frame["success"])

    def by_method(self) -> list[tuple[str | None, pd.DataFrame]]:
        """The rows of each predictor (one group, method None, when there is one)."""
        t = self.table
        if "method" in t.columns and t["method"].nunique() > 1:
            return [(str(m), g) for m, g in t.groupby("method", sort=False)]
        return [(None, t)]

    def largest_successful_ratio(self, method: str = "emergence_law") -> float | None:
        """The largest FLOPs ratio of a fitted, successful cut-off of ``method`` (how far in
        advance the forecast worked), or None (also below 1: no lead, the checkpoints' FLOPs do
        not grow with capability)."""
        import pandas as pd

        t = self.table
        if "method" in t.columns:
            t = t[t["method"] == method]
        t = self.fitted(t)
        ok = t[self.succeeded(t)]
        if ok.empty or "flops_ratio" not in ok.columns:
            return None
        ratio = pd.to_numeric(ok["flops_ratio"], errors="coerce").max()
        return None if pd.isna(ratio) or ratio < MIN_FLOPS_LEAD else float(ratio)

    def ground_truth(self) -> float | None:
        """The ground truth the cut-offs were scored against (``gt`` column), if written."""
        return _first_number(self.table, "gt")


@dataclasses.dataclass
class AblationTable(TableResult):
    """``ablations.csv`` (one row per ablation, columns
    :data:`emergence_law.analysis.ablations.CSV_COLUMNS`) and ``ablations.md`` (the paper's
    Table 2 layout with the header lines)."""

    KIND: ClassVar[str] = "ablations"
    FILES: ClassVar[Mapping[str, str]] = {"table": "ablations.csv", "markdown": "ablations.md",
                                          "plot": "ablations.png"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("ablation", "error")

    markdown: str | None = None

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        written = super().save(out_dir)
        if self.markdown is not None:
            written["markdown"] = atomic_write_text(Path(out_dir) / self.FILES["markdown"],
                                                    self.markdown)
        return written

    @classmethod
    def load(cls, out_dir: str | Path) -> AblationTable:
        md = Path(out_dir) / cls.FILES["markdown"]
        return cls.read(Path(out_dir) / cls.FILES["table"],
                        markdown=md.read_text(encoding="utf-8", errors="replace")
                        if md.is_file() else None)

    def equals(self, other: object) -> bool:
        return super().equals(other) and self.markdown == other.markdown  # type: ignore[attr-defined]

    def fitted(self) -> pd.DataFrame:
        return self.table[_is_ok(self.table)]

    def succeeded(self, frame: pd.DataFrame) -> pd.Series:
        return BacktestTable.succeeded(frame)

    def ground_truth(self) -> float | None:
        return _first_number(self.table, "gt")


def _first_number(table: pd.DataFrame, column: str) -> float | None:
    import pandas as pd

    if column not in table.columns:
        return None
    v = pd.to_numeric(table[column], errors="coerce").dropna()
    return float(v.iloc[0]) if len(v) else None


# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(kw_only=True)
class ComparisonResult(Result):
    """``compare.json``: which of two series emerges first.

    ``series`` maps each name to its fit (``fit.json``'s record without samples and data);
    ``p_a_higher`` is P(E_a > E_b), ``p_a_higher_mc_error`` its Monte Carlo error;
    ``difference_a_minus_b`` has ``mle`` and ``percentiles`` (5, 25, 50, 75, 95).
    """

    KIND: ClassVar[str] = "compare"
    FILES: ClassVar[Mapping[str, str]] = {"json": "compare.json", "plot": "compare.png"}

    task: str
    metric: str | None = None
    ft_method: str | None = None
    series: dict[str, dict[str, Any]]
    p_a_higher: float
    p_a_higher_mc_error: float
    question: str
    a: str
    b: str
    ess: dict[str, float]
    difference_a_minus_b: dict[str, Any]
    verdict: str

    def __post_init__(self) -> None:
        if not isinstance(self.series, Mapping) or not all(
                isinstance(v, Mapping) for v in self.series.values()):
            raise DataError("not a compare result ('series' must map names to fits)")
        self.fits()  # each series' fit is a fit record
        percentiles_of(self.difference_a_minus_b)

    def fits(self) -> dict[str, FitResult]:
        """Each series' fit, typed."""
        out = {}
        for name, rec in self.series.items():
            try:
                out[name] = FitResult.from_dict(rec)
            except DataError as exc:
                raise DataError(f"series {name!r}: {exc.reason}") from exc
        return out

    def summary(self) -> str:
        return f"{self.question} = {self.p_a_higher:.3f} +/- {self.p_a_higher_mc_error:.3f}"


@dataclasses.dataclass(kw_only=True)
class ToParamsResult(Result):
    """``to_params.json``: the parameter count (and FLOPs) at the predicted emergence loss.

    ``emergence_loss``, ``params`` and ``flops`` each hold ``mle`` and ``percentiles`` (keys
    ``"5"`` ... ``"95"``; None where a draw is unreachable: below the irreducible loss).
    """

    KIND: ClassVar[str] = "to_params"
    FILES: ClassVar[Mapping[str, str]] = {"json": "to_params.json", "plot": "to_params.png"}
    BLOCKS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("emergence_loss", "emergence loss (nats)"), ("params", "parameters"),
        ("flops", "FLOPs"))

    task: str
    emergence_loss: dict[str, Any]
    scaling_law: dict[str, Any]
    tokens_per_param: float
    params: dict[str, Any]
    flops: dict[str, Any]
    n_draws: int
    message: str
    notes: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        for key, _ in self.BLOCKS:
            block = getattr(self, key)
            if not isinstance(block, Mapping):
                raise DataError(f"not a to_params result ({key!r} must be an object)")
            percentiles_of(block)

    def percentiles(self, key: str) -> dict[float, float | None]:
        """Percentiles of ``emergence_loss``, ``params`` or ``flops`` by level."""
        return percentiles_of(getattr(self, key))

    def params_interval(self) -> tuple[float, float, float, float] | None:
        return widest_interval(self.params)

    def summary(self) -> str:
        return f"to-params of {self.task}: {self.message}"


@dataclasses.dataclass(kw_only=True)
class LadderForecastResult(Result):
    """``ladder_forecast.json`` (fitted two-step parameters, settings, every forecast) and
    ``ladder_forecast.csv`` (the forecasts as a table)."""

    KIND: ClassVar[str] = "ladder"
    FILES: ClassVar[Mapping[str, str]] = {"json": "ladder_forecast.json",
                                          "table": "ladder_forecast.csv",
                                          "plot": "ladder_forecast.png"}

    task: str
    target: str | None
    train_groups: list[str]
    level: float
    n_boot: int
    params: dict[str, float]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    mean_abs_error: float | None
    covered: int
    n_targets: int
    forecasts: list[dict[str, Any]]
    table: pd.DataFrame | None = table_field("table", float_format="%.6g", default=None)

    @property
    def coverage(self) -> float | None:
        """Share of targets inside the predictive interval."""
        return self.covered / self.n_targets if self.n_targets else None

    def to_frame(self) -> Any:
        import pandas as pd

        return self.table if self.table is not None else pd.DataFrame(self.forecasts)

    def summary(self) -> str:
        err = number(self.mean_abs_error)
        return (f"ladder forecast of {self.task}: {self.n_targets} targets, mean |error| "
                f"{'-' if err is None else f'{err:.3f}'}, {self.covered}/{self.n_targets} "
                f"inside the {self.level:.0%} interval")
