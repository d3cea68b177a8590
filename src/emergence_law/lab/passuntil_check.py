"""PassUntil checked against the exact pass rates of the same instances (no models needed).

Why: a lab run knows every instance's pass rate exactly (``expected_rate``, teacher forcing:
:mod:`emergence_law.lab.expected_rate`), so PassUntil's estimates there are not only
self-consistent but checkable: how often each instance's exact interval
(:func:`emergence_law.passuntil.estimate.exact_interval`) covers the exact rate, and how far
the task-level mean (:func:`~emergence_law.passuntil.estimate.task_estimate`) lies from the
mean exact rate. Works on any counts table with an ``expected_rate`` column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

LEVEL = 0.95


def _check(rows: pd.DataFrame, level: float) -> dict[str, Any]:
    from emergence_law.passuntil.estimate import exact_interval, task_estimate

    k, x = rows["trials"].to_numpy(float), rows["passes"].to_numpy(float)
    c = rows["censored"].fillna(False).to_numpy(bool)
    p = rows["expected_rate"].to_numpy(float)
    lo, hi = exact_interval(k, x, c, level)
    est = task_estimate(k, x, c, level=level)
    exact = float(p.mean())
    return {"n_instances": int(len(rows)), "n_censored": int(c.sum()),
            "censored_fraction": float(c.mean()), "samples": int(k.sum()),
            "interval_covers_exact": int(((lo <= p) & (p <= hi)).sum()),
            "coverage": float(((lo <= p) & (p <= hi)).mean()),
            "exact_mean_rate": exact, "estimated_mean_rate": est.mean,
            "task_interval": [est.lower, est.upper],
            "task_interval_covers_exact": bool(est.lower <= exact <= est.upper),
            "relative_error": float(est.mean / exact - 1) if exact > 0 else None}


def exact_check(counts: pd.DataFrame, level: float = LEVEL) -> dict[str, Any] | None:
    """Per model and pooled: censored fraction, per-instance interval coverage of the exact
    rate, and the task mean's relative error against the mean exact rate (one draw per model,
    not a bias: bias needs repeated runs, tests/lab/test_expected_rate.py). None without an
    ``expected_rate`` column."""
    if "expected_rate" not in counts or counts["expected_rate"].isna().any():
        return None
    per = {str(m): _check(rows, level) for m, rows in counts.groupby("model")}
    n = sum(v["n_instances"] for v in per.values())
    covered = sum(v["interval_covers_exact"] for v in per.values())
    rel = [v["relative_error"] for v in per.values() if v["relative_error"] is not None]
    return {"level": level, "per_model": per, "n_instances": n,
            "coverage": covered / n if n else None,
            "censored_fraction": float(counts["censored"].fillna(False).astype(bool).mean()),
            "mean_relative_error": float(np.mean(rel)) if rel else None}
