"""The result of ``emergence-law fit``: ``fit.json`` (and ``data_used.csv``) as a typed record.

:class:`~emergence_law.fitting.result.EmergenceFit` is the live fit (it predicts and plots);
:class:`FitResult` is its file: the keys of ``fit.json`` (docs/core.md), their meaning (which
percentiles, in which unit) and the files beside it. The report, ``compare`` (each series' fit)
and the lab's ``emergence_fit_<method>.json`` read fits through it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from numbers import Real
from typing import TYPE_CHECKING, Any, ClassVar

from emergence_law.errors import DataError
from emergence_law.results.base import Result, table_field

if TYPE_CHECKING:
    import pandas as pd

    from emergence_law.fitting.result import EmergenceFit

#: the percentiles a fit reports, keyed in ``fit.json`` by ``str(q)`` ("5", "10", ...)
PERCENTILES = (5, 10, 25, 50, 75, 90, 95)


def number(value: Any) -> float | None:
    """A finite JSON number as float; anything else (None, text, NaN, a flag) is None."""
    if isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def percentiles_of(block: Any) -> dict[float, float | None]:
    """``{q: value}`` of a block's ``percentiles`` (keys ``"5"``, ``"50"``, ...), by level.

    The key format is the one every writer uses (``str(q)`` of the percent); a key that is not a
    number is a bad file, not something to guess around.
    """
    raw = block.get("percentiles") if isinstance(block, Mapping) else None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise DataError("'percentiles' must be an object {\"5\": value, ...}")
    out: dict[float, float | None] = {}
    for key, value in raw.items():
        try:
            q = float(key)
        except ValueError:
            raise DataError(f"percentile key {key!r} is not a percent like \"5\"") from None
        out[q] = number(value)
    return dict(sorted(out.items()))


def widest_interval(block: Any) -> tuple[float, float, float, float] | None:
    """(lowest level, its value, highest level, its value): normally the 5-95% interval."""
    pct = [(q, v) for q, v in percentiles_of(block).items() if v is not None]
    if len(pct) < 2:
        return None
    (lo_q, lo), (hi_q, hi) = pct[0], pct[-1]
    return lo_q, lo, hi_q, hi


@dataclasses.dataclass(kw_only=True)
class FitResult(Result):
    """``fit.json``: one emergence-law fit; losses in nats of pretraining loss.

    Field order is the key order of the file. ``emergence_point`` holds ``mle``, ``median``,
    ``percentiles`` (:data:`PERCENTILES`, keys ``"5"``...), ``interval_90`` and ``samples``
    (the posterior draws, absent in a compare series' fit); ``data`` is the rows used, column-wise.
    """

    KIND: ClassVar[str] = "fit"
    FILES: ClassVar[Mapping[str, str]] = {
        "json": "fit.json", "curves": "fit_curves.png", "cdf": "emergence_cdf.png",
        "data": "data_used.csv"}

    task: str
    metric: str | None = None
    method: str | None = None
    form: str
    d0: float
    d_ref: float
    likelihood: str = "gaussian"
    shared_ab: bool = True
    emergence_point: dict[str, Any]
    mode: float | None = None
    params: dict[str, Any]
    theta: dict[str, float]
    loglik: float
    dispersion: float | None = None
    n_obs: int
    levels: list[float]
    posterior: dict[str, Any] = dataclasses.field(default_factory=lambda: {"method": "none"})
    diagnostics: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    min_loss: float | None = None
    chance: float | None = None
    selection: str = ""
    data: dict[str, list[Any]] | None = None
    data_used: pd.DataFrame | None = table_field("data", default=None)

    def __post_init__(self) -> None:
        ep = self.emergence_point
        if not isinstance(ep, Mapping) or number(ep.get("mle")) is None:
            raise DataError("not a fit result (emergence_point.mle must be a number)")
        percentiles_of(ep)  # the key format is checked once, here
        if not isinstance(self.warnings, list):
            raise DataError("not a fit result ('warnings' must be a list of text)")
        if self.data is not None and not (isinstance(self.data, Mapping) and all(
                isinstance(v, list) for v in self.data.values())):
            raise DataError("not a fit result ('data' must be the rows column-wise: "
                            "{column: [values]})")
        for name in ("params", "diagnostics", "posterior", "theta"):
            if not isinstance(getattr(self, name), Mapping):
                raise DataError(f"not a fit result ({name!r} must be an object)")

    # -- conversions --------------------------------------------------------------------------
    @classmethod
    def from_fit(cls, fit: EmergenceFit, *, include_samples: bool = True,
                 include_data: bool = True) -> FitResult:
        """The record of a live fit (``data_used.csv`` is its data table)."""
        record = fit.to_dict(include_samples=include_samples, include_data=include_data)
        return cls.from_dict(record, data_used=fit.data if include_data else None)

    def to_fit(self) -> EmergenceFit:
        """The live fit back (it predicts and plots without the original table)."""
        from emergence_law.fitting.result import EmergenceFit

        return EmergenceFit.from_dict(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The ``fit.json`` record; ``data`` only when the fit carries its rows."""
        out = super().to_dict()
        if out.get("data") is None:
            out.pop("data", None)
        return out

    # -- what readers ask for -----------------------------------------------------------------
    @property
    def mle(self) -> float:
        """E(D0) at the maximum-likelihood parameters (nats)."""
        return float(self.emergence_point["mle"])

    @property
    def median(self) -> float | None:
        return number(self.emergence_point.get("median"))

    @property
    def percentiles(self) -> dict[float, float | None]:
        """Posterior percentiles of E(D0) by level (5.0 -> value); empty without a posterior."""
        return percentiles_of(self.emergence_point)

    def interval(self) -> tuple[float, float, float, float] | None:
        """(5.0, p5, 95.0, p95): the widest interval the fit reports, or None."""
        return widest_interval(self.emergence_point)

    @property
    def samples(self) -> list[float] | None:
        s = self.emergence_point.get("samples")
        return s if isinstance(s, list) else None

    @property
    def fewshot_loss_min(self) -> float | None:
        """The least loss among the few-shot rows the fit used (None without its rows)."""
        data: Any = self.data or {}
        if not data and self.data_used is not None:
            data = {c: self.data_used[c].tolist() for c in self.data_used.columns}
        loss, setting = data.get("loss"), data.get("setting")
        if not loss or not setting:
            return None
        vals = [number(v) for v, s in zip(loss, setting, strict=False) if s == "fewshot"]
        vals = [v for v in vals if v is not None]
        return min(vals) if vals else None

    @property
    def at_data_edge(self) -> bool:
        """The MLE of E(D0) sits at the few-shot data's edge (within the fitter's EDGE_NATS):
        a bound ('no earlier than the data'), not an extrapolation."""
        from emergence_law.fitting import at_data_edge

        edge = self.fewshot_loss_min
        return edge is not None and bool(at_data_edge(self.mle, edge))

    @property
    def posterior_method(self) -> str:
        """``mcmc``, ``bootstrap`` or ``none``."""
        return str(self.posterior.get("method", "none"))

    def scalars(self) -> dict[str, Any]:
        return {"task": self.task, "metric": self.metric, "method": self.method,
                "form": self.form, "d0": self.d0, "posterior": self.posterior_method,
                "mle": self.mle, "median": self.median, "n_obs": self.n_obs}

    def summary(self) -> str:
        iv = self.interval()
        band = f", {iv[0]:g}-{iv[2]:g}% [{iv[1]:.3f}, {iv[3]:.3f}]" if iv else ""
        return (f"fit of {self.task}: E(D0) MLE {self.mle:.3f} nats{band} "
                f"({self.posterior_method} posterior, {self.n_obs} rows)")
