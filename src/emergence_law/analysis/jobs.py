"""One prediction job (a fit on a chosen subset of rows) and how its error is scored.

Ablations and backtests are both lists of such jobs scored against the same ground truth, so
the job, its picklable runner and the scoring live here once.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.errors import EmergenceLawError

METHODS = ("emergence_law", "two_step")


@dataclass
class FitJob:
    """Fit ``method`` to ``rows`` of ``task`` with estimator settings ``params``."""

    label: str
    rows: pd.DataFrame
    task: str
    params: dict[str, Any]
    method: str = "emergence_law"
    metric: str | None = None

    def signature(self) -> tuple:
        """Identical row sets and settings give identical fits: run such jobs once."""
        return (self.method, self.metric, tuple(self.rows.index.tolist()),
                tuple(sorted((k, repr(v)) for k, v in self.params.items())))


@contextlib.contextmanager
def quiet_fit() -> Iterator[None]:
    """Silence a fit's warnings (kept on the fit as ``fit.warnings`` and reported in the tables)
    and emcee's autocorrelation log message, so parallel jobs do not flood the terminal."""
    log = logging.getLogger("emcee")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def run_fit_job(job: FitJob) -> dict[str, Any]:
    """Run one job; user-level failures (not identifiable, no rows) become ``status=failed``."""
    with quiet_fit():
        return _run_fit_job(job)


def _run_fit_job(job: FitJob) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        if job.method == "emergence_law":
            from emergence_law.fitting import EmergenceLaw

            fit = EmergenceLaw(**job.params).fit(job.rows, job.task, metric=job.metric)
        elif job.method == "two_step":
            from emergence_law.analysis.baseline import TwoStepBaseline

            fit = TwoStepBaseline(**job.params).fit(job.rows, job.task, metric=job.metric)
        else:  # pragma: no cover - checked by the callers
            raise ValueError(job.method)
    except (EmergenceLawError, np.linalg.LinAlgError, FloatingPointError) as exc:
        return {"status": "failed", "reason": " ".join(str(exc).split()),
                "seconds": time.perf_counter() - t0}
    samples = fit.emergence_samples
    return {
        "status": "ok", "reason": "",
        "mle": float(fit.emergence_point_mle),
        "samples": None if samples is None else np.asarray(samples, dtype=float),
        "warnings": list(getattr(fit, "warnings", [])),
        "diagnostics": {k: v for k, v in getattr(fit, "diagnostics", {}).items()
                        if isinstance(v, (int, float))},
        "seconds": time.perf_counter() - t0,
    }


def score(mle: float, samples: np.ndarray | None, truth: float, threshold: float
          ) -> dict[str, Any]:
    """|MLE - truth| (nats), the 5/50/95th percentiles of |draw - truth| under the posterior,
    the posterior's own 5/50/95th percentiles, and success (error <= threshold)."""
    err = abs(mle - truth)
    out: dict[str, Any] = {"mle": mle, "error": err, "success": bool(err <= threshold)}
    if samples is not None and len(samples):
        e = np.abs(samples - truth)
        out.update(error_p5=float(np.percentile(e, 5)), error_median=float(np.median(e)),
                   error_p95=float(np.percentile(e, 95)),
                   p5=float(np.percentile(samples, 5)), p50=float(np.median(samples)),
                   p95=float(np.percentile(samples, 95)))
    else:
        out.update(error_p5=np.nan, error_median=np.nan, error_p95=np.nan,
                   p5=np.nan, p50=np.nan, p95=np.nan)
    return out
