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


def _pu(y: np.ndarray) -> np.ndarray:
    return np.exp(-np.exp(np.asarray(y, dtype=float)))


def pu_ticks(pu_lo: float, pu_hi: float, most: int = 8) -> list[float]:
    """Readable pass-rate ticks between ``pu_lo`` and ``pu_hi``: 1, 2, 5 x 10^k, or every
    m x 10^k when the range is narrow (a PU axis over one decade needs more than one tick)."""
    pu_lo, pu_hi = max(pu_lo, 1e-300), min(pu_hi, 1 - 1e-12)
    if not pu_hi > pu_lo:
        return []
    k0, k1 = int(np.floor(np.log10(pu_lo))), int(np.ceil(np.log10(pu_hi)))
    for mantissas in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10.0 ** k for k in range(k0, k1 + 1) for m in mantissas
                 if pu_lo <= m * 10.0 ** k <= pu_hi]
        if len(ticks) >= 3:
            break
    while len(ticks) > most:
        ticks = ticks[::2]
    return ticks


def _pu_label(p: float) -> str:
    return f"{p:.0e}".replace("e-0", "e-") if p < 0.01 else f"{p:g}"


def plot_task_law(law: TaskScalingLaw, prediction: LawPrediction | None, path: str | Path,
                  title: str = "", measured: tuple[float, float, float] | None = None) -> Path:
    """Save the plot as PNG, in the law's own axes (log(-log PU) against log N, where the law
    PU = exp(-c N^-alpha) is a straight line): the task means per model with intervals at the
    law's confidence, the law's line, the predicted task mean with its band, the prediction,
    and, when given, the ``measured`` (mean, lower, upper) pass rate of the target model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emergence_law.passuntil.law import task_points

    level = law.confidence
    pts = task_points(law.grid_, level=level, seed=law.seed) if law.grid_ is not None \
        else law.points_
    hi_n = max(pts.params.max(), prediction.target_params if prediction else 0)
    grid = np.geomspace(pts.params.min() / 1.2, hi_n * 1.2, 40)
    mid, lo, hi = law.curve(grid)
    fig, ax = plt.subplots(figsize=(7.2, 4.8), dpi=120)
    ax.fill_between(grid, _y(hi), _y(lo), color="tab:blue", alpha=0.16,
                    label=f"{level:.0%} interval of the predicted task PU")
    ax.plot(grid, _y(mid), color="tab:blue", lw=1.2, ls="--",
            label=f"predicted task mean PU ({law.level} fit)")
    if np.isfinite(law.c_) and np.isfinite(law.alpha_):
        line = np.log(law.c_) - law.alpha_ * np.log(grid)
        what = ("typical instance (population line)" if law.level in ("pooled", "instance")
                else "law")
        ax.plot(grid, line, color="tab:blue", lw=2.2,
                label=f"{what}: PU = exp(-c N^-alpha), c = {law.c_:.3g}, alpha = "
                f"{law.alpha_:.3g}")
    pos = pts.pass_rate > 0
    yerr = np.abs(np.vstack([_y(pts.pass_rate[pos]) - _y(pts.upper[pos]),
                             _y(pts.lower[pos]) - _y(pts.pass_rate[pos])]))
    yerr = np.nan_to_num(yerr, posinf=3.0)
    ax.errorbar(pts.params[pos], _y(pts.pass_rate[pos]), yerr=yerr, fmt="o", color="black",
                capsize=3, label=f"measured task PU per model (unbiased mean, {level:.0%} "
                "bootstrap)")
    if (~pos).any():
        ax.plot(pts.params[~pos], np.full((~pos).sum(), _y(pts.upper[~pos].clip(1e-12)).max()),
                "v", color="gray", label="no pass (upper bound)")
    if prediction is not None:
        lo_p, hi_p = prediction.interval
        yp = _y(prediction.predicted_pass_rate)
        ax.errorbar([prediction.target_params], [yp],
                    yerr=[[yp - _y(hi_p)], [_y(lo_p) - yp]], fmt="*", ms=14, color="tab:red",
                    capsize=4, label=f"prediction PU = {prediction.predicted_pass_rate:.2g} "
                    f"[{prediction.confidence:.0%}: {lo_p:.2g}, {hi_p:.2g}]")
    if measured is not None and prediction is not None and measured[0] > 0:
        m, m_lo, m_hi = measured
        ym = _y(m)
        ax.errorbar([prediction.target_params * 1.06], [ym],
                    yerr=[[max(ym - _y(m_hi), 0)], [max(_y(max(m_lo, 1e-300)) - ym, 0)]],
                    fmt="D", ms=7, color="tab:green", capsize=4,
                    label=f"measured at the target: {m:.2g} [{m_lo:.2g}, {m_hi:.2g}]")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N (log scale)")
    ax.set_ylabel("log(-log PU)   (lower = higher pass rate)")
    ax.invert_yaxis()  # higher pass rate up
    ax.set_title(title or "PassUntil task scaling law")
    y0, y1 = sorted(ax.get_ylim())
    ticks = pu_ticks(float(_pu(y1)), float(_pu(y0)))
    sec = ax.secondary_yaxis("right", functions=(lambda y: np.exp(-np.exp(y)),
                                                 lambda p: _y(p)))
    sec.set_ylabel("pass rate PU")
    sec.set_yticks(ticks)
    sec.set_yticklabels([_pu_label(t) for t in ticks])
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1,
              frameon=False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
