"""Figures of a fit (matplotlib, Agg): the paper's Fig. 4 (fit) and Fig. 5 (CDF)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from emergence_law.fitting.result import EmergenceFit


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig: Any, path: str | Path | None) -> Any:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")
        _pyplot().close(fig)
    return fig


#: line styles of the data levels, so the finetuned lines differ in more than a shade
LEVEL_STYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
LEVEL_MARKERS = ("o", "^", "D", "v", "P", "X")


def metric_label(fit: EmergenceFit) -> str:
    """The y-axis: the metric's name (accuracy for ``acc``), not just "performance"."""
    names = {"acc": "accuracy", "acc_norm": "accuracy (length-normalised)",
             "exact_match": "exact match", "pass@1": "pass@1"}
    m = fit.metric
    return f"{names.get(m, m)} ({m})" if m and m in names else (m or "performance")


def plot_fit(fit: EmergenceFit, path: str | Path | None = None, ax: Any = None, *,
             ground_truth: float | None = None, unused: Any = None) -> Any:
    """Fig. 4: data and fitted ReLU per data level, each labelled with its elbow E(D), the
    extrapolated few-shot curve, the forecast E(D0) with its 90 % interval, chance, and, when
    given, the ground-truth elbow and the few-shot rows the fit did not use (``unused``: e.g. the
    post-emergence checkpoints left out by ``min_loss``), so the forecast can be checked by eye.
    """
    from emergence_law.errors import DataError

    if fit.data is None:
        raise DataError("this fit carries no data rows to plot")
    plt = _pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 5.2))
    d = fit.data
    loss = d["loss"].to_numpy(dtype=float)
    lo, hi = float(loss.min()), float(loss.max())
    e0 = fit.emergence_point_mle
    iv = fit.interval(0.9)
    extra = [e0] + ([iv[0]] if iv else []) + ([ground_truth] if ground_truth else [])
    if unused is not None and len(unused):
        extra.append(float(unused["loss"].min()))
    # finetuned lines over their data (plus their elbow); the forecast over everything shown
    ft_grid = np.linspace(min(lo, e0) - 0.04 * (hi - lo), hi, 300)
    lo = min([lo, *extra]) - 0.04 * (hi - lo)
    grid = np.linspace(lo, hi, 300)
    cmap = plt.get_cmap("plasma")
    levels = fit.levels
    for j, D in enumerate(levels):
        c = cmap(0.05 + 0.75 * j / max(len(levels) - 1, 1))
        style, mark = LEVEL_STYLES[j % len(LEVEL_STYLES)], LEVEL_MARKERS[j % len(LEVEL_MARKERS)]
        rows = d[(d["setting"] == "finetune") & (d["n_train"].astype(float) == D)]
        e_d = float(fit.emergence_point(float(D)))
        ax.scatter(rows["loss"], rows["value"], s=16, color=c, alpha=0.75, marker=mark)
        ax.plot(ft_grid, fit.predict(ft_grid, D), color=c, lw=1.8, ls=style,
                label=f"finetuned D = {D:g}: elbow E(D) = {e_d:.3f}")
        ax.plot([e_d], fit.predict([e_d], D), marker=mark, ms=8, color=c, mec="black", mew=0.6)
    fs = d[d["setting"] == "fewshot"]
    if len(fs):
        ax.scatter(fs["loss"], fs["value"], s=22, color="black", marker="s",
                   label=f"few-shot ({fit.d0:g}-shot), used by the fit")
    if unused is not None and len(unused):
        ax.scatter(unused["loss"], unused["value"], s=26, facecolors="none", edgecolors="black",
                   marker="s", label="few-shot, not used (past the cut-off): the check")
    ax.plot(grid, fit.predict(grid, None), color="0.3", lw=2.2, ls="--",
            label=f"forecast few-shot curve (D0 = {fit.d0:g})")
    if iv is not None:
        ax.axvspan(iv[0], iv[1], color="tab:red", alpha=0.12,
                   label=f"forecast E(D0): 90% interval [{iv[0]:.3f}, {iv[1]:.3f}]")
    ax.axvline(e0, color="tab:red", lw=1.5, label=f"forecast E(D0): MLE {e0:.3f}")
    if ground_truth is not None:
        ax.axvline(ground_truth, color="tab:green", lw=1.8, ls=(0, (4, 2)),
                   label=f"ground truth (all few-shot rows): {ground_truth:.3f}")
    if fit.min_loss is not None:
        ax.axvline(fit.min_loss, color="0.5", lw=0.8, ls=":",
                   label=f"cut-off: fit uses loss >= {fit.min_loss:.3f}")
    if fit.chance is not None:
        ax.axhline(fit.chance, color="0.45", lw=1, ls=(0, (1, 2)),
                   label=f"chance ({fit.chance:.3g})")
    _frame_the_data(ax, d["value"].to_numpy(dtype=float), fit.chance)
    ax.invert_xaxis()
    ax.set_xlabel("pretraining loss (nats)  →  more capable models")
    ax.set_ylabel(metric_label(fit))
    ax.set_title(f"Emergence law fit: {fit.task} ({fit.form}"
                 + (f", {fit.method}" if fit.method else "") + ")")
    ax.legend(fontsize=7, loc="upper left", framealpha=0.9)
    return _finish(fig if fig is not None else ax.figure, path)


def _frame_the_data(ax: Any, values: np.ndarray, chance: float | None) -> None:
    """Keep the data readable when a fitted curve runs far outside them (a degenerate fit
    whose base sits at -3 accuracy squeezed the measured points into a line): the y-axis then
    spans the data and chance, padded, and says that curves leave the frame."""
    vals = values[np.isfinite(values)]
    if not len(vals):
        return
    lo = min(vals.min(), chance if chance is not None else vals.min())
    hi = max(vals.max(), chance if chance is not None else vals.max())
    pad = 0.15 * max(hi - lo, 1e-3)
    y0, y1 = ax.get_ylim()
    if (y1 - y0) > 2 * (hi - lo + 2 * pad):
        ax.set_ylim(lo - pad, hi + pad)
        ax.text(0.99, 0.02, "fitted curves leave the frame (y-axis: the data's range)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.3")


def plot_cdf(fit: EmergenceFit, path: str | Path | None = None, ax: Any = None, *,
             ground_truth: float | None = None) -> Any:
    """Fig. 5: empirical CDF of the draws of E(D0), with MLE, median and 5-95 % band; a point
    mass (many draws at one value) is named on the plot and warned about, not hidden."""
    plt = _pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
    s = fit.emergence_samples
    if s is None or len(s) == 0:
        ax.text(0.5, 0.5, "no posterior draws: the fit ran with posterior = 'none'\n"
                "(only the MLE is shown)", ha="center", va="center", transform=ax.transAxes)
        ax.axvline(fit.emergence_point_mle, color="tab:red",
                   label=f"MLE {fit.emergence_point_mle:.3f}")
    else:
        xs = np.sort(s)[::-1]  # from the least capable end: P(E(D0) >= x) grows to the right
        method = fit.posterior.get("method", "")
        ax.step(xs, np.arange(1, len(xs) + 1) / len(xs), where="post", color="tab:blue",
                label=f"{method} CDF ({len(xs)} draws)")
        p = fit.percentiles
        ax.axvspan(p["5"], p["95"], color="tab:blue", alpha=0.1,
                   label=f"90% interval [{p['5']:.3f}, {p['95']:.3f}]")
        ax.axvline(fit.median, color="tab:blue", ls="--", lw=1,
                   label=f"median {fit.median:.3f}")
        ax.axvline(fit.emergence_point_mle, color="tab:red", lw=1,
                   label=f"MLE {fit.emergence_point_mle:.3f}")
        from emergence_law.fitting.diagnostics import point_mass

        pm = point_mass(s)
        if pm is not None:
            value, share = pm
            ax.text(0.02, 0.97, f"warning: {share:.0%} of the {method} draws sit at "
                    f"{value:.3f}\n(a bound, or the data's edge): the CDF is a point\n"
                    "mass there, not a smooth distribution", transform=ax.transAxes, va="top",
                    fontsize=7.5, color="darkred",
                    bbox={"facecolor": "white", "edgecolor": "darkred", "alpha": 0.9})
    if ground_truth is not None:
        ax.axvline(ground_truth, color="tab:green", lw=1.5, ls=(0, (4, 2)),
                   label=f"ground truth {ground_truth:.3f}")
    ax.invert_xaxis()
    ax.set_xlabel("few-shot emergence point E(D0), pretraining loss (nats)  →  more capable")
    ax.set_ylabel("P(E(D0) ≥ x)  (emerged by loss x)")
    ax.set_title(f"Emergence point CDF: {fit.task}")
    ax.legend(fontsize=7, loc="lower right")
    return _finish(fig if fig is not None else ax.figure, path)


def plot_both(fit: EmergenceFit, path: str | Path | None = None) -> Any:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    plot_fit(fit, None, ax=axes[0])
    plot_cdf(fit, None, ax=axes[1])
    return _finish(fig, path)
