"""The lab's plots: the three that tell the story, plus PassUntil and the backtest.

1. ``fewshot_emergence.png``: few-shot accuracy of every checkpoint against pretraining loss,
   per model size, with the ground-truth ReLU (chance, then a rise).
2. ``emergence_fit_<method>.png``: the emergence law fitted on pre-emergence checkpoints only
   (Fig. 4 style, drawn by the core's plot), with the ground truth marked.
3. ``advance.png``: prediction error against the FLOPs of the most capable model used, as
   checkpoints are held out (Fig. 7 style).
Also ``finetune_shift.png`` (elbow per data amount), ``passuntil.png`` (task scaling law) and,
when the table has ``logprob_norm`` rows, ``continuous_emergence.png`` (paper Fig. 13: accuracy
and the log-probability of the correct choice side by side, each with its elbow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.lab.families import task_title
from emergence_law.lab.task import lab_task


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def _family(obs: pd.DataFrame) -> str:
    from emergence_law.lab.facts import TASK_MC

    return "facts" if lab_task(obs) == TASK_MC else "arithmetic"


#: the facts family's x-axes (``LabScale.facts_axis``), as the plots name them
FACTS_AXIS_LABELS = {
    "val": "val: held-out pretraining loss (every token, nats)  →  more capable",
    "tru": "loss tru (value token of pretraining statements, nats)  →  more capable"}


def _loss_label(obs: pd.DataFrame, axis: str | None = None) -> str:
    """The x-axis: each family's loss (:mod:`.families`); for facts, the run's ``facts_axis``
    (``tru`` when not known: the scales written before the setting existed)."""
    if _family(obs) == "facts":
        return FACTS_AXIS_LABELS[axis or "tru"]
    return "pretraining loss (answer tokens, nats)  →  more capable"


def plot_fewshot(obs: pd.DataFrame, gt: Any, path: Path, axis: str | None = None) -> Path:
    plt = _plt()
    fs = obs[(obs["setting"] == "fewshot") & (obs["metric"] == "acc") & (obs["task"] == lab_task(obs))]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    models = sorted(fs["model"].unique(), key=lambda m: float(fs[fs["model"] == m]["params"].iloc[0]))
    cmap = plt.get_cmap("plasma")
    for j, m in enumerate(models):
        r = fs[fs["model"] == m].sort_values("loss")
        se = np.sqrt(r["value"] * (1 - r["value"]) / r["n_eval"].astype(float))
        ax.errorbar(r["loss"], r["value"], yerr=se, fmt="o-", ms=4, lw=1, capsize=2,
                    color=cmap(0.1 + 0.7 * j / max(1, len(models) - 1)),
                    label=f"{m} ({float(r['params'].iloc[0]) / 1e3:.0f}k params)")
    chance = float(fs["chance"].iloc[0])
    ax.axhline(chance, color="0.5", ls=":", lw=1, label=f"chance ({chance:.2f})")
    if gt is not None:
        grid = np.linspace(fs["loss"].min(), fs["loss"].max(), 300)
        p = gt.params
        ax.plot(grid, p["B"] + p["A"] * np.maximum(gt.elbow - grid, 0), color="black", lw=2,
                alpha=0.7, label=f"ground-truth ReLU, elbow {gt.elbow:.3f} nats")
        ax.axvspan(*gt.interval, color="tab:green", alpha=0.15, label="95% interval of elbow")
    ax.invert_xaxis()
    ax.set_xlabel(_loss_label(obs, axis))
    ax.set_ylabel("3-shot accuracy (4-way multiple choice)")
    ax.set_title(f"Few-shot emergence in the lab: {task_title(_family(obs))}")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _relu_panel(ax: Any, fs: pd.DataFrame, gt: Any, chance: float, chance_label: str,
                ylabel: str, title: str, axis: str | None = None) -> None:
    """One metric against loss: a line per model size (colour by size), chance, the fitted
    ReLU and its elbow; x inverted so that more capable is to the right, as in plot_fewshot."""
    plt = _plt()
    cmap = plt.get_cmap("plasma")
    models = sorted(fs["model"].unique(),
                    key=lambda m: float(fs[fs["model"] == m]["params"].iloc[0]))
    for j, m in enumerate(models):
        r = fs[fs["model"] == m].sort_values("loss")
        ax.plot(r["loss"], r["value"], "o-", ms=4, lw=1,
                color=cmap(0.1 + 0.7 * j / max(1, len(models) - 1)),
                label=f"{m} ({float(r['params'].iloc[0]) / 1e3:.0f}k params)")
    ax.axhline(chance, color="0.5", ls=":", lw=1, label=chance_label)
    if gt is not None:
        grid = np.linspace(fs["loss"].min(), fs["loss"].max(), 300)
        p = gt.params
        ax.plot(grid, p["B"] + p["A"] * np.maximum(gt.elbow - grid, 0), color="black", lw=2,
                alpha=0.7, label="fitted ReLU")
        ax.axvline(gt.elbow, color="tab:green", lw=1.5, ls="-.",
                   label=f"elbow {gt.elbow:.3f} nats")
        ax.axvspan(*gt.interval, color="tab:green", alpha=0.15, label="95% interval of elbow")
    ax.invert_xaxis()
    ax.set_xlabel(_loss_label(fs, axis))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)


def plot_continuous(obs: pd.DataFrame, gt_acc: Any, gt_cont: Any, path: Path,
                    axis: str | None = None) -> Path:
    """Paper Fig. 13 for the lab: few-shot accuracy and few-shot ``logprob_norm`` against loss.

    If the accuracy jump were only the threshold of a smoothly improving score, the right panel
    would rise from the weakest checkpoint on; side by side, the two elbows can be compared.
    """
    from emergence_law.lab.continuous import CONTINUOUS_METRIC, log_chance

    plt = _plt()
    sel = (obs["setting"] == "fewshot") & (obs["task"] == lab_task(obs))
    acc = obs[sel & (obs["metric"] == "acc")]
    cont = obs[sel & (obs["metric"] == CONTINUOUS_METRIC)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    chance = float(acc["chance"].iloc[0])
    _relu_panel(left, acc, gt_acc, chance, f"chance ({chance:.2f})",
                "3-shot accuracy (4-way multiple choice)", "Accuracy (discontinuous metric)",
                axis)
    lc = log_chance(obs)
    _relu_panel(right, cont, gt_cont, lc, f"chance ln(1/4) = {lc:.3f}",
                "3-shot log p(correct), normalised over the 4 choices",
                "Log-probability of the correct choice (continuous metric)", axis)
    if gt_cont is not None and gt_cont.params.get("A", 0) > 0 and gt_cont.params["B"] < lc:
        # a dip below chance before the rise: show where the rise crosses chance
        cross = gt_cont.elbow - (lc - gt_cont.params["B"]) / gt_cont.params["A"]
        right.axvline(cross, color="tab:blue", ls=":", lw=1.5,
                      label=f"rise crosses chance at {cross:.3f}")
    if gt_acc is not None:
        right.axvline(gt_acc.elbow, color="0.4", ls="--", lw=1,
                      label=f"accuracy elbow {gt_acc.elbow:.3f}")
    right.legend(fontsize=7, loc="upper left")
    lo = float(min(acc["loss"].min(), cont["loss"].min()))
    hi = float(max(acc["loss"].max(), cont["loss"].max()))
    pad = 0.03 * (hi - lo)
    for ax in (left, right):  # same loss range in both panels, inverted
        ax.set_xlim(hi + pad, lo - pad)
    fig.suptitle("Emergence in a continuous metric too? (paper Fig. 13)", fontsize=11)
    return _save(fig, path)


def plot_fit_with_truth(fit: Any, gt: Any, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    fit.plot_fit(ax=ax)
    if gt is not None:
        ax.axvline(gt.elbow, color="tab:green", lw=2, ls="-.",
                   label=f"ground truth {gt.elbow:.3f} (all checkpoints)")
        ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"{fit.task}: law fitted on pre-emergence checkpoints only", fontsize=10)
    return _save(fig, path)


def plot_finetune_shift(summary: dict[str, Any], path: Path) -> Path | None:
    levels = summary.get("finetune_shift", {}).get("levels", [])
    if not levels:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    methods = list(dict.fromkeys(str(lv["method"]) for lv in levels))
    for method, marker in zip(methods, "os^Dv" * len(methods), strict=False):
        mine = sorted((lv for lv in levels if lv["method"] == method), key=lambda r: r["n_train"])
        if not mine:
            continue
        d = [lv["n_train"] for lv in mine]
        if all(lv.get("law_elbow") is not None for lv in mine):
            ax.plot(d, [lv["law_elbow"] for lv in mine], marker + "-", label=f"{method}: E(D), law")
        pts = [(lv["n_train"], lv["elbow"]) for lv in mine if lv.get("elbow") is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker, mfc="none", ms=9,
                    label=f"{method}: elbow fitted per level")
    drawn = bool(ax.lines)
    gt = summary.get("finetune_shift", {}).get("fewshot_elbow")
    if gt is not None:
        ax.axhline(gt, color="tab:green", ls="-.", label=f"few-shot ground truth {gt:.3f}")
    if not drawn:  # say why instead of showing empty axes
        import textwrap

        why = summary.get("finetune_shift", {}).get("answer") or ""
        ax.text(0.5, 0.5, textwrap.fill(
            f"no elbow to draw: for none of the {len(levels)} finetuned data levels "
            f"({', '.join(methods)}) could an elbow be fitted per level, nor an emergence law "
            f"(too few checkpoints, or accuracy never rises). {why}", 60),
            ha="center", va="center", transform=ax.transAxes, fontsize=8, color="0.3")
    ax.set_xscale("log")
    ax.set_xlabel("finetuning examples D")
    ax.set_ylabel("elbow (pretraining loss, nats)")
    ax.set_title("Elbow after finetuning on D examples, against the few-shot elbow")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 0.06))
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def plot_advance(summary: dict[str, Any], path: Path) -> Path | None:
    """|error| against FLOPs in advance for every backtest cut-off (markers, not lines: the
    cut-offs hold out checkpoints in loss order, so their FLOPs are not monotone), the
    two-step baseline beside the law when it ran; red x = outside the success threshold."""
    methods = summary.get("prediction", {}).get("methods", {})
    if not any(b.get("error_nats") is not None
               for r in methods.values() for b in r.get("backtest", [])):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    baseline_drawn = False
    for method, marker in (("full", "o"), ("lora-r4", "s")):
        recs = methods.get(method, {}).get("backtest", [])
        pts = [b for b in recs if b.get("error_nats") is not None]
        if not pts:
            continue
        x = np.array([b["flops_in_advance"] or np.nan for b in pts], dtype=float)
        y = np.array([abs(b["error_nats"]) for b in pts])
        ax.plot(x, y, marker, ms=6, alpha=0.8,
                label=f"{method}: law ({len(pts)} of {len(recs)} cut-offs fitted)")
        bad = np.array([not b["success"] for b in pts])
        ax.plot(x[bad], y[bad], "x", color="red", ms=10)
        base = [b for b in recs if (b.get("baseline") or {}).get("error_nats") is not None]
        if base and not baseline_drawn:  # the baseline uses no finetuning: same for both
            bx = [b["flops_in_advance"] or np.nan for b in base]
            by = [abs(b["baseline"]["error_nats"]) for b in base]
            ax.plot(bx, by, "^", color="0.45", mfc="none", ms=6,
                    label="two-step baseline (no finetuning)")
            baseline_drawn = True
    ax.axhline(0.1, color="red", ls=":", label="success threshold 0.1 nats")
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs at emergence / FLOPs of the most capable model used")
    ax.set_ylabel("|predicted - ground truth| (nats)")
    ax.set_title("How far in advance: hold out the most capable checkpoints")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def plot_continuous_if_measured(obs: pd.DataFrame, gt_acc: Any, path: Path,
                                axis: str | None = None) -> Path | None:
    """:func:`plot_continuous` when the table has few-shot ``logprob_norm`` rows, else None
    (the tables shipped before that metric was measured have accuracy only)."""
    from emergence_law.lab.continuous import CONTINUOUS_METRIC, continuous_ground_truth

    has = ((obs["setting"] == "fewshot") & (obs["task"] == lab_task(obs))
           & (obs["metric"] == CONTINUOUS_METRIC)).any()
    if not has:
        return None
    return plot_continuous(obs, gt_acc, continuous_ground_truth(obs), path, axis)


def write_all(obs: pd.DataFrame, counts: pd.DataFrame, gt: Any, fits: dict[str, Any], law: Any,
              summary: dict[str, Any], folder: Path) -> list[Path]:
    """Every plot that the data supports; returns the written paths."""
    folder = Path(folder)
    axis = (summary.get("scale") or {}).get("facts_axis")
    out: list[Path] = [plot_fewshot(obs, gt, folder / "fewshot_emergence.png", axis)]
    for method, fit in fits.items():
        out.append(plot_fit_with_truth(fit, gt, folder / f"emergence_fit_{method}.png"))
    cont = plot_continuous_if_measured(obs, gt, folder / "continuous_emergence.png", axis)
    if cont is not None:
        out.append(cont)
    for p in (plot_finetune_shift(summary, folder / "finetune_shift.png"),
              plot_advance(summary, folder / "advance.png")):
        if p is not None:
            out.append(p)
    if law is not None:
        from emergence_law.passuntil.plots import plot_task_law

        pu = summary.get("passuntil", {})
        pred = None
        if "predicted_pass_rate" in pu:
            from emergence_law.passuntil.law import LawPrediction

            pred = LawPrediction(pu["target_params"], pu["predicted_pass_rate"], pu["interval"],
                                 "pooled", pu["confidence"])
        target = pu.get("measured", {}).get(pu.get("target_model"), {})
        measured = ((target["mean"], target["lower"], target["upper"])
                    if {"mean", "lower", "upper"} <= set(target) else None)
        out.append(Path(plot_task_law(law, pred, folder / "passuntil.png",
                                      title="PassUntil: fitted on smaller models, "
                                            "largest predicted", measured=measured)))
    return out
