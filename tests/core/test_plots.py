"""The figures, checked by what they draw (legend entries, line styles, axis directions, texts),
not only by a file appearing: a reader must be able to check the forecast by eye."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from emergence_law.fitting import EmergenceLaw
from emergence_law.fitting.diagnostics import check_point_mass, point_mass

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def fitted(sim):
    df, truth = sim
    cut = truth["emergence_point"]
    fit = EmergenceLaw(posterior="bootstrap", n_samples=100, seed=0).fit(df, "simtask",
                                                                          min_loss=cut)
    unused = df[(df["setting"] == "fewshot") & (df["loss"] < cut)]
    return fit, unused, cut


def _labels(ax) -> list[str]:
    return ax.get_legend_handles_labels()[1]


def test_fit_plot_labels_each_level_with_its_elbow_and_draws_the_check(fitted):
    import matplotlib.pyplot as plt

    fit, unused, truth = fitted
    fig = fit.plot_fit(None, ground_truth=truth, unused=unused)
    ax = fig.axes[0]
    labels = _labels(ax)
    for D in fit.levels:
        e = fit.emergence_point(float(D))
        assert f"finetuned D = {D:g}: elbow E(D) = {e:.3f}" in labels
    level_lines = [h for h, lab in zip(*ax.get_legend_handles_labels(), strict=True)
                   if lab.startswith("finetuned")]
    # told apart by more than a shade: the dash pattern changes from line to line
    dashes = [(h.get_linestyle(), str(getattr(h, "_unscaled_dash_pattern", ""))) for h in
              level_lines]
    assert len(set(dashes)) == len(level_lines)
    assert len({tuple(h.get_color()) for h in level_lines}) == len(level_lines)
    joined = " | ".join(labels)
    for words in ("chance (", "forecast E(D0): MLE", "forecast E(D0): 90% interval",
                  "ground truth", "not used (past the cut-off)"):
        assert words in joined, words
    assert ax.get_ylabel().startswith("accuracy") or "acc" in ax.get_ylabel()
    assert ax.xaxis_inverted()  # more capable (lower loss) to the right
    unused_pts = [c for c in ax.collections if c.get_label().startswith("few-shot, not used")]
    assert len(unused_pts) == 1 and len(unused_pts[0].get_offsets()) == len(unused)
    plt.close(fig)


def test_point_mass_is_named_on_the_cdf_and_warned():
    rng = np.random.default_rng(0)
    s = np.concatenate([np.full(400, 1.890), rng.uniform(1.5, 1.85, 600)])
    assert point_mass(s) == (1.89, 0.4)
    assert point_mass(rng.normal(1.8, 0.05, 1000)) is None
    with pytest.warns(UserWarning) as record:
        msgs = check_point_mass(s, "bootstrap", fraction_at_bounds=0.66)
    assert [str(w.message) for w in record] == msgs and len(msgs) == 2
    assert msgs[0].startswith("40% of the bootstrap draws of E(D0) sit at 1.890")
    assert "66% of the bootstrap replicates" in msgs[1]


def test_cdf_plot_says_point_mass_and_grows_to_the_right(fitted):
    import matplotlib.pyplot as plt

    fit, _, truth = fitted
    fit2 = SimpleNamespace(**{k: getattr(fit, k) for k in (
        "posterior", "percentiles", "median", "emergence_point_mle", "task")})
    fit2.emergence_samples = np.concatenate([np.full(60, 2.5), np.linspace(2.3, 2.6, 40)])
    from emergence_law.fitting.plots import plot_cdf

    fig = plot_cdf(fit2, None, ground_truth=truth)
    ax = fig.axes[0]
    assert any("point" in t.get_text() and "mass" in t.get_text() for t in ax.texts)
    assert ax.xaxis_inverted()
    step = ax.lines[0]
    x, y = step.get_xdata(), step.get_ydata()
    assert x[0] > x[-1] and y[0] < y[-1]  # P(E >= x) rises as the loss falls
    plt.close(fig)
    fig = fit.plot_cdf(None)
    assert not any("mass" in t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)


def test_backtest_plot_has_intervals_failed_rows_and_capable_to_the_right():
    import matplotlib.pyplot as plt

    from emergence_law.analysis.plots import plot_backtest

    rows = []
    for i, (flops, ok) in enumerate([(1e20, True), (5e19, True), (2e19, False)]):
        for m in ("emergence_law", "two_step"):
            st = "ok" if (ok or m == "emergence_law") else "failed"
            rows.append({"method": m, "status": st, "max_flops_used": flops,
                         "first_post_flops": 2e20, "cutoff_loss": 2.0 + i * 0.1,
                         "first_post_loss": 1.9, "prediction": 1.85 + 0.01 * i,
                         "p5": 1.8, "p50": 1.85, "p95": 1.9, "success": ok})
    res = SimpleNamespace(table=pd.DataFrame(rows), ground_truth=SimpleNamespace(elbow=1.86),
                          threshold=0.1, task="t")
    fig = plot_backtest(res)
    ax = fig.axes[0]
    labels = " | ".join(_labels(ax))
    assert "emergence_law: median and 90% interval" in labels
    assert "two_step: median and 90% interval" in labels
    assert "two_step: no prediction (failed" in labels
    assert ax.xaxis_inverted()
    plt.close(fig)


def test_passuntil_plot_draws_the_law_as_a_line_and_the_measured_target(monkeypatch, tmp_path):
    import matplotlib.pyplot as plt

    from emergence_law.lab.shipped import load_lab_passuntil_counts
    from emergence_law.passuntil.law import TaskScalingLaw
    from emergence_law.passuntil.plots import plot_task_law, pu_ticks

    ticks = pu_ticks(6e-5, 3e-4)
    assert len(ticks) >= 3 and all(6e-5 <= t <= 3e-4 for t in ticks)
    assert len(pu_ticks(1e-6, 0.5)) <= 8
    counts = load_lab_passuntil_counts()
    sizes = sorted(counts["params"].unique())
    law = TaskScalingLaw(level="dataset", confidence=0.9, n_draws=50, seed=0).fit(
        counts[counts["params"] < sizes[-1]])
    pred = law.predict(float(sizes[-1]))
    figs = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    plot_task_law(law, pred, tmp_path / "p.png", measured=(6.4e-5, 2.6e-5, 1.2e-4))
    ax = figs[-1].axes[0]
    labels = " | ".join(_labels(ax))
    assert "measured at the target: 6.4e-05 [2.6e-05, 0.00012]" in labels
    assert "90% bootstrap" in labels and "68%" not in labels  # one interval level throughout
    (law_line,) = [ln for ln in ax.lines if ln.get_label().startswith("law: PU")]
    x, y = np.log(law_line.get_xdata()), law_line.get_ydata()
    assert np.allclose(np.diff(y) / np.diff(x), -law.alpha_)  # a straight line in these axes
    right = [a for a in figs[-1].axes[0].child_axes]
    assert right and len(right[0].get_yticks()) >= 3  # readable PU ticks
    matplotlib.pyplot.close("all")


def test_compare_plot_runs_both_axes_the_same_way():
    import matplotlib.pyplot as plt

    from emergence_law.analysis.plots import plot_compare
    from emergence_law.simulate import simulate_observations

    fits = []
    for seed in (1, 2):
        df, truth = simulate_observations(seed=seed)
        fits.append(EmergenceLaw(posterior="bootstrap", n_samples=50, seed=0).fit(
            df, "simtask", min_loss=truth["emergence_point"]))
    cmp = SimpleNamespace(series=["a", "b"], fits=fits, task="simtask", p_a_higher=0.5,
                          mc_error=0.01)
    fig = plot_compare(cmp)
    assert all(ax.xaxis_inverted() for ax in fig.axes)
    plt.close(fig)


def test_ablation_reasons_are_cut_at_a_word_and_finetune_shift_says_why_empty(tmp_path,
                                                                              monkeypatch):
    import matplotlib.pyplot as plt

    from emergence_law.analysis.plots import plot_ablations
    from emergence_law.lab.plots import plot_finetune_shift

    reason = ("task 'mul-mc': every finetuned value is above chance (0.25); the elbows lie "
              "beyond the weakest checkpoint and cannot be located by this fit at all")
    t = pd.DataFrame([
        {"ablation": "full data", "group": "full", "status": "ok", "reason": "", "error": 0.01,
         "error_p5": 0.005, "error_median": 0.01, "error_p95": 0.02, "success": True},
        {"ablation": "last 3 checkpoints", "group": "checkpoints", "status": "failed",
         "reason": reason, "error": np.nan, "error_p5": np.nan, "error_median": np.nan,
         "error_p95": np.nan, "success": False}])
    res = SimpleNamespace(table=t, threshold=0.1, task="t",
                          ground_truth=SimpleNamespace(elbow=1.9))
    fig = plot_ablations(res)
    (text,) = [x.get_text() for x in fig.axes[0].texts]
    assert text.startswith("failed: task 'mul-mc'") and text.endswith(" ...")
    assert text[:-4] in f"failed: {reason}" and text[:-4].split()[-1] in reason.split()
    plt.close(fig)
    import emergence_law.lab.plots as lab_plots

    figs = []
    monkeypatch.setattr(lab_plots, "_save", lambda fig, path: figs.append(fig) or path)
    plot_finetune_shift({"finetune_shift": {"levels": [
        {"method": "lora-r2", "n_train": 16, "mean_accuracy": 0.25, "n_rows": 4}],
        "answer": "no fitted emergence law to read E(D) from"}}, tmp_path / "fs.png")
    (why,) = figs[0].axes[0].texts
    assert why.get_text().startswith("no elbow to draw") and "lora-r2" in why.get_text()


def test_saved_analysis_plots_leave_no_figure_open(tmp_path):
    """A fuzz run plotting hundreds of times warned 'more than 20 figures': a figure saved to a
    file is closed (and still returned with its artists)."""
    import matplotlib.pyplot as plt

    from emergence_law.analysis.plots import plot_ablations, plot_backtest

    before = plt.get_fignums()
    bt = pd.DataFrame([{"method": "emergence_law", "status": "ok", "max_flops_used": 1e20,
                        "first_post_flops": 2e20, "cutoff_loss": 2.0, "first_post_loss": 1.9,
                        "prediction": 1.85, "p5": 1.8, "p50": 1.85, "p95": 1.9,
                        "success": True}])
    ab = pd.DataFrame([{"ablation": "full data", "group": "full", "status": "ok", "reason": "",
                        "error": 0.01, "error_p5": 0.005, "error_median": 0.01,
                        "error_p95": 0.02, "success": True}])
    gt = SimpleNamespace(elbow=1.86)
    for i in range(25):
        fig_b = plot_backtest(SimpleNamespace(table=bt, ground_truth=gt, threshold=0.1,
                                              task="t"), tmp_path / f"b{i}.png")
        fig_a = plot_ablations(SimpleNamespace(table=ab, ground_truth=gt, threshold=0.1,
                                               task="t"), tmp_path / f"a{i}.png")
    assert plt.get_fignums() == before
    assert (tmp_path / "b24.png").stat().st_size > 0 and (tmp_path / "a24.png").exists()
    assert fig_b.axes[0].lines and fig_a.axes[0].patches  # closed, but still inspectable


def test_a_fit_whose_curves_run_far_outside_the_data_keeps_the_data_readable(fitted):
    """The facts-small table's law puts its finetuned base at -3 accuracy: the y-axis then
    spans the data and chance (and says curves leave the frame) instead of squeezing the
    measured points into a line; an ordinary fit keeps matplotlib's own limits."""
    import matplotlib.pyplot as plt

    from emergence_law.lab.shipped import load_lab_observations, load_lab_summary

    obs = load_lab_observations("facts-small")
    elbow = load_lab_summary("facts-small")["fewshot_emergence"]["ground_truth"]["elbow"]
    bad = EmergenceLaw(posterior="none").fit(obs, "facts-mc", metric="acc", method="full",
                                             min_loss=elbow)
    assert bad.params["B"] < -1  # the degenerate fit this guards against
    fig = bad.plot_fit(None)
    ax = fig.axes[0]
    y0, y1 = ax.get_ylim()
    data = bad.data["value"]
    assert y0 > 0.15 and y1 < 0.6 and y0 < data.min() and y1 > data.max()
    assert any("leave the frame" in t.get_text() for t in ax.texts)
    plt.close(fig)
    fit, unused, truth = fitted
    fig = fit.plot_fit(None, ground_truth=truth, unused=unused)
    assert not any("leave the frame" in t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)
