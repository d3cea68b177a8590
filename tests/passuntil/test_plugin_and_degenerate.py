"""Plug-in predictions, the size-level scatter, and refusals on degenerate counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emergence_law.cli import main
from emergence_law.errors import NotIdentifiableError
from emergence_law.passuntil.law import TaskScalingLaw, plugin_mean
from emergence_law.passuntil.likelihood import pass_rate
from emergence_law.passuntil.simulate import simulate_family

PYTHIA = (7.0e7, 1.6e8, 4.1e8, 1.0e9, 1.4e9)
TARGET = 2.8e9


@pytest.fixture(scope="module")
def math_like():
    """Fixed budget, 40% of instances never pass at any size (as on real MATH counts)."""
    return simulate_family(n_instances=50, params=PYTHIA, design="fixed", budget=2000,
                           impossible=0.4, mean_eta_small=2.0, seed=4)


@pytest.mark.parametrize("level", ["instance", "pooled"])
def test_prediction_is_the_plug_in_mean_over_instances(math_like, level):
    law = TaskScalingLaw(level=level, n_draws=60).fit(math_like.counts)
    pred = law.predict(TARGET)
    x = np.log(TARGET) - law.grid_.x0
    by_hand = np.mean(pass_rate(law._modes[:, 0], law._modes[:, 1], x))
    assert pred.predicted_pass_rate == pytest.approx(by_hand)
    assert plugin_mean(law._modes, np.array([x]))[0] == pytest.approx(by_hand)
    lo, hi = pred.interval
    assert lo <= pred.predicted_pass_rate <= hi


@pytest.mark.parametrize("level", ["instance", "pooled"])
def test_never_passing_instances_do_not_inflate_the_prediction(math_like, level):
    """The mean of per-instance posterior draws put ~0.16 on every never-passing instance on
    real counts (instance level +120%); the plug-in keeps them near 0."""
    law = TaskScalingLaw(level=level, n_draws=60).fit(math_like.counts)
    never = math_like.counts.groupby("instance")["passes"].sum() == 0
    assert never.sum() >= 15
    x = np.log(TARGET) - law.grid_.x0
    per = pass_rate(law._modes[:, 0], law._modes[:, 1], x)
    ids = list(law.grid_.instances)
    never_pred = per[[ids.index(i) for i in never[never].index]]
    assert np.mean(never_pred) < 0.02
    truth = math_like.true_pass_rate(TARGET)
    assert law.predict(TARGET).predicted_pass_rate == pytest.approx(truth, rel=0.3)


def test_size_scatter_widens_the_interval():
    """A family with size-level shocks: the residual scatter of task means is measured and the
    interval is wider than the same fit's without it."""
    fam = simulate_family(n_instances=40, shock_sd=0.4, seed=11,
                          params=(1e8, 2e8, 4e8, 8e8, 1.6e9))
    law = TaskScalingLaw(level="instance", n_draws=200).fit(fam.counts)
    assert law.scatter_["tau"] > 0.1 and law.scatter_["dof"] == 3
    lo, hi = law.predict(6.4e9).interval
    tau = law.scatter_["tau"]
    law.scatter_["tau"] = 0.0
    lo0, hi0 = law.predict(6.4e9).interval
    law.scatter_["tau"] = tau
    assert hi - lo > 1.3 * (hi0 - lo0)


def test_two_sizes_warn_that_the_law_is_unchecked():
    fam = simulate_family(n_instances=20, params=(1e8, 4e8), mean_eta_small=1.5, seed=2)
    pred = TaskScalingLaw(level="dataset").fit(fam.counts).predict(1.6e9)
    assert any("cannot be measured" in w for w in pred.warnings)
    assert "warning: only 2 model sizes" in pred.summary()


def counts_table(trials: int, passes) -> pd.DataFrame:
    rows = []
    for j, n in enumerate((1e8, 2e8, 4e8)):
        for i in range(5):
            rows.append({"model": f"m{j}", "params": n, "task": "t", "instance": f"i{i}",
                         "trials": trials, "passes": passes(j, i)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("level", ["pooled", "instance", "dataset", "distribution"])
def test_all_fail_and_all_pass_are_refused_in_words(level):
    with pytest.raises(NotIdentifiableError, match="no instance passed at any model size"):
        TaskScalingLaw(level=level).fit(counts_table(1000, lambda j, i: 0))
    with pytest.raises(NotIdentifiableError, match="every sample passed"):
        TaskScalingLaw(level=level).fit(counts_table(50, lambda j, i: 50))
    with pytest.raises(NotIdentifiableError, match="only 1 model size has any pass"):
        TaskScalingLaw(level=level).fit(counts_table(100, lambda j, i: int(j == 2)))


def test_one_sample_per_instance_warns():
    law = TaskScalingLaw(level="instance", n_draws=50).fit(
        counts_table(1, lambda j, i: int(i <= j)))
    assert any("sampled once" in w for w in law.warnings_)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (lambda: counts_table(1000, lambda j, i: 0), "no instance passed at any model size"),
        (lambda: counts_table(50, lambda j, i: 50), "every sample passed"),
    ],
)
def test_cli_refuses_degenerate_counts_in_one_line(tmp_path, capsys, table, message):
    f = tmp_path / "c.csv"
    table().to_csv(f, index=False)
    rc = main(["passuntil", "fit", str(f), "--target-params", "1e9", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_cli_target_params_must_be_a_positive_number(tmp_path, capsys, value):
    f = tmp_path / "c.csv"
    counts_table(100, lambda j, i: j + i).to_csv(f, index=False)
    rc = main(["passuntil", "fit", str(f), "--target-params", value, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--target-params" in err and len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_zero_passes_task_interval_is_exact_not_zero():
    """`passuntil run` printed "95% CI 0 - 0" after zero passes; the exact upper bound of the
    task mean after no pass in K samples on each of S instances is about 3.7/(K S)."""
    from emergence_law.passuntil.estimate import task_estimate

    est = task_estimate([5000] * 4, [0] * 4, [True] * 4)
    assert est.mean == 0 and est.lower == 0
    assert est.upper == pytest.approx(3.689 / 20000, rel=0.01)
    assert "CI 0 - 0)" not in est.summary() and "no pass in 20000 samples" in est.summary()
    one = task_estimate([1000], [0], [True])
    assert one.upper == pytest.approx(3.689 / 1000, rel=0.01)


@pytest.mark.slow
def test_default_level_covers_at_the_nominal_rate_on_misspecified_families():
    """90% intervals of the default (pooled) fit over simulated families whose law is off by
    realistic amounts: size-level shocks (sd 0.25 on log(-log p), the target's own included)
    and MATH-like fixed-budget counts with never-passing instances. Small version of
    benchmarks/bench_passuntil_levels.py. 24 tasks: P(<= 18 covered | 90%) = 2.8%."""
    covered = 0
    n = 0
    for seed in range(12):
        fams = [(simulate_family(seed=500 + seed, shock_sd=0.25), 3.2e9),
                (simulate_family(n_instances=48, params=PYTHIA, design="fixed", budget=2000,
                                 impossible=0.3, shock_sd=0.15, mean_eta_small=2.0,
                                 seed=600 + seed), TARGET)]
        for fam, target in fams:
            pred = TaskScalingLaw(n_draws=100, seed=seed).fit(fam.counts).predict(target)
            truth = fam.true_pass_rate(target)
            covered += pred.interval[0] <= truth <= pred.interval[1]
            n += 1
    assert n == 24 and covered >= 19
