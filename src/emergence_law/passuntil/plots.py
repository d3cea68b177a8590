"""Plot of a task scaling law: log(-log PU) against log N, data, fit and prediction."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from emergence_law.passuntil.law import LawPrediction, TaskScalingLaw


def _y(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-300, 1 - 1e-16)
    return np.log(-np.log(p))


def plot_task_law(law: TaskScalingLaw, prediction: LawPrediction | None, path: str | Path,
                  title: str = "") -> Path:
    """Save the plot as PNG: task means per model (with bootstrap bars), the fit and its band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = law.points_
    hi_n = max(pts.params.max(), prediction.target_params if prediction else 0)
    grid = np.geomspace(pts.params.min() / 1.2, hi_n * 1.2, 40)
    mid, lo, hi = law.curve(grid)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    ax.fill_between(grid, _y(hi), _y(lo), color="tab:blue", alpha=0.18,
                    label=f"{law.confidence:.0%} interval")
    ax.plot(grid, _y(mid), color="tab:blue", lw=2, label=f"{law.level} fit")
    pos = pts.pass_rate > 0
    yerr = np.abs(np.vstack([_y(pts.pass_rate[pos]) - _y(pts.upper[pos]),
                             _y(pts.lower[pos]) - _y(pts.pass_rate[pos])]))
    yerr = np.nan_to_num(yerr, posinf=3.0)
    ax.errorbar(pts.params[pos], _y(pts.pass_rate[pos]), yerr=yerr, fmt="o", color="black",
                capsize=3, label="task PU per model (unbiased mean, 68% bootstrap)")
    if (~pos).any():
        ax.plot(pts.params[~pos], np.full((~pos).sum(), _y(pts.upper[~pos].clip(1e-12)).max()),
                "v", color="gray", label="no pass (upper bound)")
    if prediction is not None:
        lo_p, hi_p = prediction.interval
        yp = _y(prediction.predicted_pass_rate)
        ax.errorbar([prediction.target_params], [yp],
                    yerr=[[yp - _y(hi_p)], [_y(lo_p) - yp]], fmt="*", ms=14, color="tab:red",
                    capsize=4, label=f"prediction PU = {prediction.predicted_pass_rate:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N (log scale)")
    ax.set_ylabel("log(-log PU)")
    ax.set_title(title or "PassUntil task scaling law")
    sec = ax.secondary_yaxis("right", functions=(lambda y: np.exp(-np.exp(y)),
                                                 lambda p: _y(p)))
    sec.set_ylabel("PU")
    sec.set_yticks([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9])
    sec.set_yticklabels(["1e-6", "1e-5", "1e-4", "1e-3", "0.01", "0.05", "0.1", "0.2", "0.3",
                         "0.5", "0.7", "0.9"])
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
