"""Figures of the analyses, in the style of the paper's Fig. 6 (ablations), Fig. 7 (backtest),
Fig. 8/9 (data-quality comparison) and Fig. 10 (loss -> parameter count).

matplotlib with the Agg backend, imported inside each function so the CLI stays fast. Each
function saves a PNG when given a path, then closes the figure (a long session or a fuzz run
that plots hundreds of times must not pile up open figures), and returns it; without a path the
figure stays open for the caller to show or close.
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
        _plt().close(fig)  # saved: the returned figure keeps its artists for inspection
    return fig


def plot_ablations(result: Any, path: str | Path | None = None):
    """Fig. 6: bar = |MLE - GT| per ablation, whisker = 5th-95th percentile error under the
    posterior, circle = median error; red = failure (> threshold), grey text = skipped/failed.
    Log-scaled error axis, so both 0.003 and 2 nats stay readable."""
    plt = _plt()
    t = result.table
    n = len(t)
    fig, ax = plt.subplots(figsize=(9.0, 0.32 * n + 1.6))
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
            import textwrap

            why = textwrap.shorten(f"{r['status']}: {r['reason']}", 110, placeholder=" ...")
            ax.text(lo * 1.1, y[i], why, va="center", fontsize=6.5, color="0.35", zorder=5,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
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
    ax.set_xlabel("|MLE - ground truth| (nats); whisker: 90% interval (5th-95th percentile) "
                  "of the error under the posterior, o: median (full reasons: ablations.csv)",
                  fontsize=8)
    ax.set_title(f"Ablations, task {result.task} (ground truth {result.ground_truth.elbow:.3f} "
                 "nats)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


METHOD_COLOURS = {"emergence_law": "#1f6fb4", "two_step": "#e08a1e"}


def plot_backtest(result: Any, path: str | Path | None = None):
    """Fig. 7: one row per cut-off at the FLOPs (or loss) of the most capable model used; the
    circle is the posterior median, the bar its 5th-95th percentile, the diamond the MLE; a red
    cross marks a failed prediction (|MLE - GT| > threshold). Vertical line: the ground truth
    with its success band; dashed horizontal line: the first post-emergence checkpoint."""
    plt = _plt()
    t = result.table
    gt = result.ground_truth.elbow
    thr = result.threshold
    use_flops = t["max_flops_used"].notna().all() and t["first_post_flops"].notna().all()
    ycol, ypost = (("max_flops_used", "first_post_flops") if use_flops
                   else ("cutoff_loss", "first_post_loss"))
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.axvspan(gt - thr, gt + thr, color="#2a9d5c", alpha=0.12, label=f"GT +/- {thr:g} nats")
    ax.axvline(gt, color="#2a9d5c", lw=1.5, label=f"ground truth {gt:.3f}")
    ax.axhline(float(t[ypost].iloc[0]), color="black", ls="--", lw=1,
               label="first post-emergence checkpoint")
    methods = list(dict.fromkeys(t["method"]))
    no_pred: list[tuple[str, str, np.ndarray, str]] = []
    any_interval = False
    offsets = np.linspace(-0.04, 0.04, len(methods)) if len(methods) > 1 else [0.0]
    xs = [gt]
    for m, off in zip(methods, offsets, strict=True):
        d = t[(t["method"] == m) & (t["status"] == "ok")]
        colour = METHOD_COLOURS.get(m, "#444444")
        y = d[ycol].to_numpy(dtype=float)
        y = y * 10 ** off if use_flops else y + off * 0.5
        pred = d["prediction"].to_numpy(dtype=float)
        med = d["p50"].to_numpy(dtype=float)
        lo, hi = d["p5"].to_numpy(dtype=float), d["p95"].to_numpy(dtype=float)
        has = np.isfinite(med)
        if has.any():
            ax.errorbar(med[has], y[has], xerr=[med[has] - lo[has], hi[has] - med[has]],
                        fmt="o", color=colour, mfc="none", ms=9, capsize=3, zorder=2,
                        label=f"{m}: median and 90% interval (5-95%)")
        ok = d["success"].astype(bool).to_numpy()
        if ok.any():
            ax.plot(pred[ok], y[ok], "D", color=colour, ms=5, zorder=4,
                    label=f"{m}: MLE, success")
        if (~ok).any():
            ax.plot(pred[~ok], y[~ok], "X", color=colour, mec=FAIL_COLOUR, ms=9, mew=1.2, zorder=4,
                    label=f"{m}: MLE, failure (> {thr:g} nats)")
        xs += list(pred) + list(lo[has]) + list(hi[has])
        bad = t[(t["method"] == m) & (t["status"] != "ok")]
        if len(bad):
            yb = bad[ycol].to_numpy(dtype=float)
            no_pred.append((m, colour, yb * 10 ** off if use_flops else yb + off * 0.5,
                            str(bad["status"].iloc[0])))
        any_interval |= bool(has.any())
    xs = np.array([x for x in xs if np.isfinite(x)])
    span = max(4 * thr, float(np.percentile(np.abs(xs - gt), 90)) * 1.3)
    ax.set_xlim(gt + span, gt - span)  # lower loss = more capable, to the right
    for m, colour, yb, status in no_pred:
        ax.plot(np.full(len(yb), gt + 0.96 * span), yb, "<", color=colour, mfc="white", ms=7,
                label=f"{m}: no prediction ({status}; see backtest.csv)")
    if not any_interval:
        ax.text(0.02, 0.02, "no intervals: the fits ran with --posterior none",
                transform=ax.transAxes, fontsize=7, color="0.35")
    if use_flops:
        ax.set_yscale("log")
        ax.set_ylabel("FLOPs of the most capable model used")
    else:
        ax.set_ylabel("loss of the most capable model used (nats)")
        ax.invert_yaxis()
    ax.set_xlabel("predicted few-shot emergence point (nats of pretraining loss)  →  more "
                  "capable")
    ax.set_title(f"How far in advance: task {result.task} (each row: the prediction from the "
                 "checkpoints up to that one)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
              frameon=False)
    fig.tight_layout()
    return _save(fig, path)


SERIES_COLOURS = ("#1f6fb4", "#c0392b")


def plot_compare(cmp: Any, path: str | Path | None = None):
    """Fig. 8/9: left, each series' few-shot data and fitted few-shot curve (vertical line at
    its predicted emergence point); right, the two posterior CDFs of E(D0)."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.3))
    for name, fit, colour in zip(cmp.series, cmp.fits, SERIES_COLOURS, strict=True):
        d = fit.data
        fs = d[d["setting"] == "fewshot"] if d is not None else None
        lo_hi = []
        if fs is not None and len(fs):
            ax1.scatter(fs["loss"], fs["value"], s=14, color=colour, alpha=0.7,
                        label=f"{name}: few-shot data")
            lo_hi = [float(fs["loss"].min()), float(fs["loss"].max())]
        s = np.sort(fit.emergence_samples)[::-1]  # P(E >= x): grows to the right
        ax2.step(s, np.arange(1, len(s) + 1) / len(s), where="post", color=colour, lw=2,
                 label=f"{name}: median {fit.median:.3f}")
        e = fit.emergence_point_mle
        grid = np.linspace(min(lo_hi + [e]) - 0.1, max(lo_hi + [e]) + 0.05, 300)
        ax1.plot(grid, fit.predict(grid), color=colour, lw=1.8,
                 label=f"{name}: fitted few-shot curve")
        ax1.axvline(e, color=colour, ls="--", lw=1)
        ax2.axvline(e, color=colour, ls="--", lw=1)
    ax1.invert_xaxis()
    ax1.set_xlabel("pretraining loss (nats; more capable to the right)")
    metric = next((f.metric for f in cmp.fits if getattr(f, "metric", None)), None)
    ax1.set_ylabel(f"few-shot {metric}" if metric else "few-shot performance")
    ax1.set_title(f"task {cmp.task}: fits (dashed: MLE emergence point)", fontsize=10)
    ax1.legend(fontsize=7)
    ax2.invert_xaxis()  # the same direction as the left panel: more capable to the right
    ax2.set_xlabel("few-shot emergence point E(D0) (nats; more capable to the right)")
    ax2.set_ylabel("P(E(D0) >= x)  (emerged by loss x)")
    ax2.set_title(f"P({cmp.series[0]} emerges at a higher loss) = {cmp.p_a_higher:.3f} "
                  f"+/- {cmp.mc_error:.3f}", fontsize=10)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_to_params(post: Any, path: str | Path | None = None):
    """Fig. 10/15: left, the scaling law (data, fit, 5-95% bootstrap band) with the predicted
    emergence loss; right, the posterior over parameter count (log scale), unreachable share."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.3))
    s = post.scaling
    d = s.data
    finite = post.params_draws[np.isfinite(post.params_draws)]
    # down to the small sizes too when the emergence loss lies above the family's losses
    n_lo = min(float(d["params"].min()) / 3,
               float(np.percentile(finite, 3)) / 1.5 if finite.size else np.inf)
    n_hi = max(float(d["params"].max()) * 3,
               float(np.percentile(finite, 97)) * 1.5 if finite.size else 0.0)
    grid = np.geomspace(n_lo, n_hi, 200)
    r = post.tokens_per_param
    tok = (lambda n: r * n) if s.form == "chinchilla" else (lambda n: None)  # noqa: E731
    if s.bootstrap is not None:
        curves = np.array([s._loss(s.form, b, grid, tok(grid)) for b in s.bootstrap])
        lo, hi = np.percentile(curves, [5, 95], axis=0)
        ax1.fill_between(grid, lo, hi, color="#1f6fb4", alpha=0.2, label="5-95% bootstrap")
    ax1.plot(grid, s.predict(grid, tok(grid)), color="#1f6fb4", lw=2,
             label="fit " + ("L(N, R N)" if s.form == "chinchilla" else "L(N)"))
    ax1.scatter(d["params"], d["loss"], color="black", s=18, zorder=3, label="models")
    ax1.axhline(post.emergence_mle, color="#2a9d5c", ls="--", lw=1.5,
                label=f"predicted emergence loss {post.emergence_mle:.3f}")
    if post.emergence_draws is not None and len(post.emergence_draws):
        e5, e95 = np.percentile(post.emergence_draws, [5, 95])
        ax1.axhspan(e5, e95, color="#2a9d5c", alpha=0.12)
    ax1.axhline(s.params["E"], color="grey", ls=":", lw=1,
                label=f"irreducible loss E = {s.params['E']:.3f}")
    ax1.set_xscale("log")
    ax1.set_xlabel("parameters N")
    ax1.set_ylabel("pretraining loss (nats)")
    ax1.set_title("scaling law and predicted emergence loss", fontsize=10)
    ax1.legend(fontsize=7)
    if finite.size:
        ax2.hist(np.log10(finite), bins=40, color="#1f6fb4", alpha=0.75)
        for q, ls in ((5, ":"), (50, "-"), (95, ":")):
            with np.errstate(invalid="ignore"):
                v = np.percentile(post.params_draws, q)
            if np.isfinite(v):
                ax2.axvline(np.log10(v), color="black", ls=ls, lw=1)
    if np.isfinite(post.params_mle):
        ax2.axvline(np.log10(post.params_mle), color="#2a9d5c", lw=2, label="MLE")
    ax2.set_xlabel("log10 parameters at emergence")
    ax2.set_ylabel("posterior draws")
    frac = post.fraction_unreachable
    ax2.set_title(f"size at emergence (lines: 5/50/95%); unreachable: {100 * frac:.1f}%",
                  fontsize=10)
    if np.isfinite(post.params_mle):
        ax2.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def loss_axis_label(rows: Any) -> str:
    """The x-axis's name: the rows' ``loss_source`` where they all share one (Pythia's axis is
    ln LAMBADA perplexity, OLMo's the C4 validation loss), else "pretraining loss"."""
    src = rows["loss_source"].dropna().astype(str).unique() if "loss_source" in rows else []
    what = src[0] if len(src) == 1 else "pretraining loss"
    return f"{what} (nats), more capable to the right"


def plot_ground_truths(task: str, fits: list[tuple[str, Any, Any]], path: Any = None):
    """One panel per group: the few-shot points, the fitted curve, the elbow and its interval.

    The x-axis is zoomed on the fitted range around the elbow (checkpoints far out, such as a
    step-0 model at loss 12, are drawn at the panel's edge as arrows and said in the title), and
    inverted, so more capable models are on the right as in the paper's figures."""
    from emergence_law.analysis.ground_truth import GroundTruth

    plt = _plt()
    n = len(fits)
    ncol = min(n, 3)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.6 * nrow), squeeze=False)
    for ax, (g, gt, sub) in zip(axes.ravel(), fits, strict=False):
        loss = sub["loss"].to_numpy(dtype=float)
        y = sub["value"].to_numpy(dtype=float)
        lo = float(np.min(loss))
        if isinstance(gt, GroundTruth):
            # show the elbow's neighbourhood: from the most capable point to 4x the post range
            hi = min(float(np.max(loss)), gt.elbow + max(3.0 * (gt.elbow - lo), 0.05))
        else:
            q = np.quantile(loss, [0.02, 0.98])
            hi = float(q[1] + 0.1 * (q[1] - q[0]))
        far = loss > hi
        ax.scatter(loss[~far], y[~far], s=10, color="#4c78a8", alpha=0.7, label="few-shot")
        title = f"{g}"
        if far.any():
            title += f" ({int(far.sum())} pts at loss > {hi:.2f} not shown)"
        if isinstance(gt, GroundTruth):
            xs = np.linspace(lo, hi, 600)
            ax.plot(xs, gt.curve(xs), color="black", lw=1.5, label=f"fit ({gt.model_kind})")
            ax.axvspan(gt.interval[0], gt.interval[1], color="#e45756", alpha=0.18,
                       label="95% interval")
            ax.axvline(gt.elbow, color="#e45756", lw=1.5, label=f"elbow {gt.elbow:.3f}")
        else:
            import textwrap

            why = gt.split(": ", 1)[-1] if gt.startswith("task ") else gt
            title += ": no elbow"
            ax.text(0.5, 0.03, "\n".join(textwrap.wrap(why, 60)[:3]), transform=ax.transAxes,
                    fontsize=7, ha="center", va="bottom",
                    bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "#999999"})
        ax.set_xlim(hi, lo - 0.02 * (hi - lo))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(loss_axis_label(sub))
        ax.set_ylabel(str(sub["metric"].iloc[0]) if len(sub) else "value")
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(f"Ground truth: task {task}", fontsize=11)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
    return fig
