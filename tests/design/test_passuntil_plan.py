"""``design-passuntil``: which sizes and how many samples per instance for a precision on the
target's predicted pass rate. Budget respected, one-line errors, and (statistically, on the
package's simulator) the plan reaches the precision in at least the nominal share of datasets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emergence_law.cli import main
from emergence_law.design.passuntil import MIN_PASSES, PLAN_COLUMNS, plan_passuntil
from emergence_law.passuntil.simulate import _family_eta, simulate_family

SIZES = (1e8, 2e8, 4e8, 8e8)
TARGET = 3.2e9


def _family(seed: int, **kw):
    return simulate_family(40, SIZES, mean_eta_small=2.0, seed=seed, **kw)


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    path = tmp_path_factory.mktemp("pu") / "pilot.csv"
    _family(3).counts.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("budget", [1500.0, 4000.0, 1e6])
def test_budget_respected(pilot, budget):
    plan = plan_passuntil(pilot, TARGET, 0.1, budget=budget)
    assert plan.total_cost <= budget
    assert plan.allocation["samples"].min() >= 1
    assert plan.reached == (plan.expected_rel_width <= 0.1 + 1e-9)
    if plan.reached:                            # every sampled size expects >= MIN_PASSES
        assert plan.expected_rel_width <= 0.1
        alloc = plan.allocation
        passes = (alloc["samples"] * alloc["pilot_rate"]).groupby(alloc["params"]).sum()
        assert (passes >= MIN_PASSES - 1e-6).all()
    else:
        assert not plan.reached and plan.total_cost > 0.9 * budget


def test_more_precision_costs_more_and_the_curve_is_the_model(pilot):
    a = plan_passuntil(pilot, TARGET, 0.2)
    b = plan_passuntil(pilot, TARGET, 0.05)
    assert a.expected_rel_width <= 0.2 and b.expected_rel_width <= 0.05
    assert b.total_cost > 4 * a.total_cost      # ~ (log 1.2 / log 1.05)^2 = 17 without floors
    assert set(a.shares) == {f"m{int(n)}" for n in SIZES}
    assert abs(sum(a.shares.values()) - 1) < 1e-9


def test_cli_writes_plan_allocation_and_plot(pilot, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["design-passuntil", str(pilot), "--target-size", "3.2e9", "--precision", "0.1",
               "--budget", "50000", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    plan = pd.read_csv(out / "passuntil_plan.csv")
    assert list(plan.columns) == PLAN_COLUMNS
    assert plan["cumulative_cost"].iloc[-1] <= 50000
    alloc = pd.read_csv(out / "passuntil_allocation.csv")
    assert alloc.groupby("model")["samples"].sum().to_dict() == \
        plan.set_index("model")["samples"].to_dict()
    assert (out / "passuntil_plan.png").stat().st_size > 10_000
    d = json.loads((out / "passuntil_plan.json").read_text())
    assert d["reached"] and d["expected_rel_width"] <= 0.1
    assert "expected relative half-width" in capsys.readouterr().out


def _bad(tmp_path, capsys, frame, *extra):
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    rc = main(["design-passuntil", str(path), "--target-size", "3.2e9", "--precision", "0.1",
               "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "o" / "passuntil_plan.csv").exists()
    return err


def test_bad_input_is_one_line_naming_file_row_column(pilot, tmp_path, capsys):
    df = pd.read_csv(pilot)
    bad = df.copy()
    bad.loc[2, "passes"] = 10 ** 7                      # more passes than trials
    err = _bad(tmp_path, capsys, bad)
    assert "bad.csv" in err and "row 3" in err and "'passes'" in err
    bad = df.astype({"trials": object})
    bad.loc[4, "trials"] = "many"
    err = _bad(tmp_path, capsys, bad)
    assert "bad.csv" in err and "row 5" in err and "'trials'" in err
    zero = df.copy()                                     # a size that never passed
    m = zero["params"] == 2e8
    zero.loc[m, "passes"] = 0
    zero.loc[m, "censored"] = True
    err = _bad(tmp_path, capsys, zero)
    first = int(np.flatnonzero(m.to_numpy())[0]) + 1
    assert "bad.csv" in err and f"row {first}" in err and "'passes'" in err
    err = _bad(tmp_path, capsys, df[df["params"] == 1e8])   # one size: no line
    assert "bad.csv" in err and "'params'" in err
    err = _bad(tmp_path, capsys, df.drop(columns="instance"))
    assert "bad.csv" in err and "'instance'" in err


@pytest.mark.parametrize("option, value", [("--precision", "-0.1"), ("--target-size", "0"),
                                           ("--budget", "-5"), ("--confidence", "1.5"),
                                           ("--budget", "50")])   # < 1 sample per instance
def test_bad_options_are_one_line(pilot, tmp_path, capsys, option, value):
    args = {"--target-size": "3.2e9", "--precision": "0.1", option: value}
    rc = main(["design-passuntil", str(pilot), *[x for kv in args.items() for x in kv],
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and option in err and len(err.splitlines()) == 1


def _run_plan(fam, plan, rng) -> pd.DataFrame:
    """Fixed-budget counts drawn as the plan says, from the family's true pass rates."""
    a = plan.allocation
    idx = a["instance"].str[1:].astype(int).to_numpy()
    eta = np.array([_family_eta(fam, np.log(n))[i] for n, i in zip(a["params"], idx,
                                                                    strict=True)])
    k = a["samples"].to_numpy()
    return a.assign(trials=k, passes=rng.binomial(k, np.exp(-np.exp(eta))))


def _line_prediction(counts: pd.DataFrame, params: np.ndarray | None = None) -> float:
    """The dataset-level law's plug-in prediction at the target: a line through
    log(-log mean R/K) against log N (exact through two sizes)."""
    m = counts.groupby("params").apply(lambda d: float((d["passes"] / d["trials"]).mean()))
    x, y = np.log(m.index.to_numpy()), np.log(-np.log(m.to_numpy()))
    return float(np.exp(-np.exp(np.polyval(np.polyfit(x, y, 1), np.log(TARGET)))))


@pytest.mark.slow
def test_plan_reaches_the_precision_in_the_nominal_share_of_simulated_datasets():
    """40 heterogeneous families (instances with their own lines): pilot counts
    (sample-until-r, r = 2, budget 20000) -> plan for 10 % at 4x the largest size -> counts
    drawn as planned -> the dataset-level prediction is within 10 % of the law's own
    extrapolation (the line through the true task means at the planned sizes: what sampling
    can buy) in a share not significantly below the nominal 90 % (one-sided binomial test at
    5 %). Shares on 100 datasets: benchmarks/bench_design_passuntil.py, docs/design.md."""
    hits = []
    for seed in range(40):
        fam = _family(seed)
        plan = plan_passuntil(fam.counts, TARGET, 0.1)
        assert plan.reached
        got = _run_plan(fam, plan, np.random.default_rng(1000 + seed))
        true_means = got.groupby("params").size().index.map(fam.true_pass_rate)
        truth_counts = pd.DataFrame({"params": got.groupby("params").size().index,
                                     "passes": np.asarray(true_means), "trials": 1.0})
        law = _line_prediction(truth_counts)
        hits.append(abs(np.log(_line_prediction(got) / law)) <= np.log1p(0.1))
    _not_below_nominal(hits)


def _not_below_nominal(hits: list[bool], nominal: float = 0.9) -> None:
    """The share of hits is not significantly below ``nominal`` (one-sided, 5 %)."""
    from scipy.stats import binomtest

    k, n = int(np.sum(hits)), len(hits)
    assert binomtest(k, n, nominal, alternative="less").pvalue > 0.05, (k, n)


@pytest.mark.slow
def test_where_the_law_holds_the_plan_reaches_the_truth():
    """Identical instances (the task mean follows the law exactly): the prediction is within
    the requested 10 % of the true pass rate in a share of 30 datasets not significantly
    below 90 % (heterogeneous instances bend the task mean's line, a bias sampling cannot
    remove: docs/design.md)."""
    hits = []
    for seed in range(30):
        fam = _family(seed, sd_alpha=0.0, sd_eta_small=0.0)
        plan = plan_passuntil(fam.counts, TARGET, 0.1)
        got = _run_plan(fam, plan, np.random.default_rng(2000 + seed))
        hits.append(abs(np.log(_line_prediction(got) / fam.true_pass_rate(TARGET)))
                    <= np.log1p(0.1))
    _not_below_nominal(hits)
