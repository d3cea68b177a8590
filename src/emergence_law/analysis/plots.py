"""Figures of the analyses, in the style of the paper's Fig. 6 (ablations), Fig. 7 (backtest),
Fig. 8/9 (data-quality comparison) and Fig. 10 (loss -> parameter count).

matplotlib with the Agg backend, imported inside each function so the CLI stays fast. Each
function saves a PNG when given a path and returns the figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

OK_COLOUR = "#2a9d5c"
FAIL_COLOUR = "#d1495b"
SKIP_COLOUR = "#9a9a9a"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path | None):
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def plot_ablations(result: Any, path: str | Path | None = None):
    """Fig. 6: bar = |MLE - GT| per ablation, whisker = 5th-95th percentile error under the
    posterior, circle = median error; red = failure (> threshold), grey text = skipped/failed.
    Log-scaled error axis, so both 0.003 and 2 nats stay readable."""
    plt = _plt()
    t = result.table
    n = len(t)
    fig, ax = plt.subplots(figsize=(8.0, 0.32 * n + 1.6))
    y = np.arange(n)[::-1]
    ok = (t["status"] == "ok").to_numpy()
    err = t["error"].to_numpy(dtype=float)
    vals = np.concatenate([err[ok], t["error_p95"].to_numpy(dtype=float)[ok]])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    lo = min(1e-3, float(vals.min()) / 2) if vals.size else 1e-3
    hi = max(10 * result.threshold, float(vals.max()) * 2) if vals.size else 1.0
    for i in range(n):
        r = t.iloc[i]
        if r["status"] != "ok":
            ax.text(lo * 1.1, y[i], f"{r['status']}: {str(r['reason'])[:70]}", va="center",
                    fontsize=7, color=SKIP_COLOUR)
            continue
        colour = OK_COLOUR if bool(r["success"]) else FAIL_COLOUR
        e = max(float(r["error"]), lo)
        ax.barh(y[i], e - lo, left=lo, color=colour, alpha=0.75, height=0.7)
        p5, med, p95 = float(r["error_p5"]), float(r["error_median"]), float(r["error_p95"])
        if np.isfinite(p5):
            ax.plot([max(p5, lo), max(p95, lo)], [y[i], y[i]], color="black", lw=1.2)
            ax.plot(max(med, lo), y[i], "o", color="black", ms=4, mfc="white")
    ax.axvline(result.threshold, color="black", ls="--", lw=1)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=OK_COLOUR, alpha=0.75, label=f"success (<= {result.threshold:g})"),
                       Patch(color=FAIL_COLOUR, alpha=0.75, label="failure"),
                       ax.lines[-1]], labels=[f"success (<= {result.threshold:g} nats)", "failure",
                                              "threshold"],
              loc="lower right", fontsize=7, framealpha=0.9)
    # group separators
    groups = t["group"].tolist()
    for i in range(1, n):
        if groups[i] != groups[i - 1]:
            ax.axhline(y[i] + 0.5, color="#cccccc", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(t["ablation"], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_xlabel("|MLE - ground truth| (nats); whisker: 5th-95th percentile under posterior, "
                  "o: median", fontsize=8)
    ax.set_title(f"Ablations, task {result.task} (ground truth {result.ground_truth.elbow:.3f} "
                 "nats)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
