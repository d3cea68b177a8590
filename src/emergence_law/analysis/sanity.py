"""What a fitted prediction must satisfy before a backtest or ablation may call it ``ok``.

A fit can converge and still predict nonsense: a two-step cut-off once predicted an elbow at
37.14 nats on a table whose losses span 1.6-2.6, and was scored as a (failed) prediction with
status ``ok``. Such a number is not a forecast but a sign that the fit extrapolated a curve
that never turns, so the job is marked ``failed`` with the reason, like any other fit that did
not work, and no success or error is reported for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_prediction(res: dict[str, Any], loss_range: tuple[float, float],
                     want_interval: bool) -> str | None:
    """The reason ``res`` (a fit job's result) is not a usable prediction, or None.

    Unusable: a non-finite point prediction; a curve that does not rise within the searched
    range (two-step diagnostics ``rise_seen = 0``); one outside the table's loss range
    ``[lo, hi]`` by more than the range's own span (``hi - lo``); or, when a posterior was asked
    for (``want_interval``), no posterior draws, or a 5-95% interval that is not finite or
    reaches outside the range by more than its span (a two-step cut-off on the OLMo-2 7B table
    had p95 = 47 nats).
    """
    lo, hi = loss_range
    span = max(hi - lo, 1e-9)
    mle = float(res.get("mle", np.nan))
    if not np.isfinite(mle):
        return f"the predicted emergence point is not finite ({mle})"
    if mle < lo - span or mle > hi + span:
        return (f"the predicted emergence point {mle:.4g} nats lies outside the table's loss "
                f"range [{lo:.4g}, {hi:.4g}] by more than its span ({span:.3g} nats): an "
                "extrapolation, not a forecast")
    if res.get("diagnostics", {}).get("rise_seen", 1.0) == 0.0:
        return ("the fitted curve has no steepest point within the searched loss range: its "
                f"emergence point {mle:.4g} is the range's edge, not a forecast")
    if want_interval:
        s = res.get("samples")
        if s is None or len(s) == 0:
            return "no posterior draws: the interval is missing"
        p5, p95 = np.percentile(np.asarray(s, dtype=float), [5, 95])
        if not (np.isfinite(p5) and np.isfinite(p95)):
            return f"the 5-95% interval is not finite ([{p5}, {p95}])"
        if p5 < lo - span or p95 > hi + span:
            return (f"the 5-95% interval [{p5:.4g}, {p95:.4g}] reaches outside the table's loss "
                    f"range [{lo:.4g}, {hi:.4g}] by more than its span: no forecast")
    return None
