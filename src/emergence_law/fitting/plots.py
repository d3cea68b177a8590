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


def plot_fit(fit: EmergenceFit, path: str | Path | None = None, ax: Any = None) -> Any:
    """Data and fitted ReLU per data level, and the extrapolated few-shot curve with E(D0)."""
    from emergence_law.errors import DataError

    if fit.data is None:
        raise DataError("this fit carries no data rows to plot")
    plt = _pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
    d = fit.data
    loss = d["loss"].to_numpy(dtype=float)
    lo, hi = float(loss.min()), float(loss.max())
    e0 = fit.emergence_point_mle
    iv = fit.interval(0.9)
    lo = min(lo, e0, iv[0] if iv else e0) - 0.04 * (hi - lo)
    grid = np.linspace(lo, hi, 300)
    cmap = plt.get_cmap("viridis")
    levels = fit.levels
    for j, D in enumerate(levels):
        c = cmap(0.1 + 0.8 * j / max(len(levels) - 1, 1))
        rows = d[(d["setting"] == "finetune") & (d["n_train"].astype(float) == D)]
        ax.scatter(rows["loss"], rows["value"], s=14, color=c, alpha=0.7)
        ax.plot(grid, fit.predict(grid, D), color=c, lw=1.5, label=f"finetuned, D = {D:g}")
    fs = d[d["setting"] == "fewshot"]
    if len(fs):
        ax.scatter(fs["loss"], fs["value"], s=18, color="black", marker="s",
                   label=f"few-shot ({fit.d0:g}-shot)")
    ax.plot(grid, fit.predict(grid, None), color="0.35", lw=2, ls="--",
            label=f"extrapolated few-shot, E(D0) = {e0:.3f}")
    if iv is not None:
        ax.axvspan(iv[0], iv[1], color="tab:red", alpha=0.12, label="90% interval of E(D0)")
    ax.axvline(e0, color="tab:red", lw=1)
    if fit.chance is not None:
        ax.axhline(fit.chance, color="0.6", lw=0.8, ls=":")
    ax.invert_xaxis()
    ax.set_xlabel("pretraining loss (nats)  →  more capable models")
    ax.set_ylabel("performance")
    ax.set_title(f"Emergence law fit: {fit.task} ({fit.form})")
    ax.legend(fontsize=7, loc="upper left")
    return _finish(fig if fig is not None else ax.figure, path)


def plot_cdf(fit: EmergenceFit, path: str | Path | None = None, ax: Any = None) -> Any:
    """Empirical CDF of the posterior draws of E(D0), with MLE, median and 5-95 % band."""
    plt = _pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    s = fit.emergence_samples
    if s is None or len(s) == 0:
        ax.text(0.5, 0.5, "no posterior (posterior = 'none')", ha="center", va="center",
                transform=ax.transAxes)
        ax.axvline(fit.emergence_point_mle, color="tab:red", label="MLE")
    else:
        xs = np.sort(s)
        ax.step(xs, np.arange(1, len(xs) + 1) / len(xs), where="post", color="tab:blue",
                label=f"{fit.posterior.get('method', '')} posterior CDF")
        p = fit.percentiles
        ax.axvspan(p["5"], p["95"], color="tab:blue", alpha=0.1, label="5-95%")
        ax.axvline(fit.median, color="tab:blue", ls="--", lw=1,
                   label=f"median {fit.median:.3f}")
        ax.axvline(fit.emergence_point_mle, color="tab:red", lw=1,
                   label=f"MLE {fit.emergence_point_mle:.3f}")
    ax.set_xlabel("few-shot emergence point E(D0), pretraining loss (nats)")
    ax.set_ylabel("P(E(D0) ≤ x)")
    ax.set_title(f"Emergence point CDF: {fit.task}")
    ax.legend(fontsize=7)
    return _finish(fig if fig is not None else ax.figure, path)


def plot_both(fit: EmergenceFit, path: str | Path | None = None) -> Any:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    plot_fit(fit, None, ax=axes[0])
    plot_cdf(fit, None, ax=axes[1])
    return _finish(fig, path)
