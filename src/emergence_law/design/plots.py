"""The design's one figure: expected 90% width of E(D0) against the cost spent."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from emergence_law.design.planner import DesignResult


def plot_width_vs_cost(res: DesignResult, path: str | Path | None = None) -> Any:
    """Width after the first k runs (refit-evaluated points filled) vs cumulative cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    r = res.runs
    x = np.concatenate([[0.0], r["cumulative_cost"].to_numpy(float)])
    y = np.concatenate([[res.current_width], r["expected_width"].to_numpy(float)])
    ax.plot(x, y, color="C0", lw=1.8, label="expected 90% width after the runs")
    ev = np.concatenate([[True], r["evaluated"].to_numpy(bool)])
    ax.plot(x[ev], y[ev], "o", color="C0", ms=4, label="computed by simulated refits")
    ax.axhline(res.current_width, color="0.5", ls="--", lw=1,
               label=f"now: {res.current_width:.3f} nats"
               + (" (posterior, no fit yet)" if res.current_source == "posterior" else ""))
    ax.axvline(res.budget, color="C3", ls=":", lw=1.2, label=f"budget {res.budget:g}")
    ax.set_xlabel(f"cumulative cost ({res.cost_unit})")
    ax.set_ylabel("expected 90% width of E(D0), nats")
    ax.set_title(f"{res.task}: what the designed runs buy")
    ax.set_ylim(0, max(y.max(), res.current_width) * 1.08)
    ax.set_xlim(0, max(res.budget, x.max()) * 1.03)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
