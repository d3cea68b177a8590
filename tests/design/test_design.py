"""The design itself: budget respected, contract outputs, the cold-start recipe that ``sweep
plan`` accepts, and (statistically, on simulated truths) never worse than the current table."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from emergence_law.cli import main
from emergence_law.design import design_runs
from emergence_law.fitting import EmergenceLaw

from .conftest import CAND_COLS, split_table

FAST = {"n_tables": 6, "n_boot": 20, "max_evals": 3}
CONTRACT = CAND_COLS + ["cost", "cumulative_cost", "expected_width"]


@pytest.mark.parametrize("budget", [3.0, 20.0])
def test_budget_respected_with_unequal_costs(warm, budget):
    table, rest, _ = warm
    rng = np.random.default_rng(0)
    cands = rest[CAND_COLS].assign(cost=rng.uniform(0.5, 3.0, len(rest)))
    res = design_runs(table, "simtask", cands, budget, seed=1, **FAST)
    runs = res.runs
    assert len(runs) >= 1
    assert runs["cost"].sum() <= budget + 1e-9
    assert np.allclose(runs["cumulative_cost"], np.cumsum(runs["cost"]))
    assert not runs.duplicated(["checkpoint", "n_train", "subset"]).any()
    assert set(CONTRACT) <= set(runs.columns)
    # never worse in expectation than the table now (the batch is cut where it stops helping)
    assert runs["expected_width"].iloc[-1] <= res.current_width


def test_cli_writes_next_runs_and_plot(files, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["design", str(files / "obs.csv"), "--task", "simtask", "--candidates",
               str(files / "cands.csv"), "--budget", "12", "--out", str(out), "--tables", "6",
               "--boot", "20", "--max-evals", "4"])
    assert rc == 0, capsys.readouterr().err
    runs = pd.read_csv(out / "next_runs.csv")
    assert list(runs.columns[:len(CONTRACT)]) == CONTRACT
    assert 1 <= len(runs) <= 12 and runs["cumulative_cost"].iloc[-1] <= 12
    assert (out / "expected_width.png").stat().st_size > 10_000
    d = json.loads((out / "design.json").read_text())
    assert d["current_source"] == "fit" and not d["cold_start"]
    assert d["expected_width"] <= d["current_width"]
    assert "expected width" in capsys.readouterr().out


def test_cold_start_grid_and_recipe_that_sweep_plan_accepts(files, tmp_path, capsys):
    out, recipe = tmp_path / "out", tmp_path / "first.yaml"
    rc = main(["design", str(files / "fewshot.csv"), "--task", "simtask", "--checkpoints",
               str(files / "ckpts.csv"), "--levels", "30,300,3000", "--subsets", "2",
               "--budget", "150", "--out", str(out), "--write-recipe", str(recipe),
               "--harness", "python", "--callable", "emergence_law.sweep.synthetic:synthetic_job",
               "--tables", "6", "--boot", "20", "--max-evals", "4"])
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "cold start" in text and "grid:" in text
    runs = pd.read_csv(out / "next_runs.csv")
    assert set(runs["n_train"]) <= {30, 300, 3000} and runs["subset"].max() <= 1
    d = json.loads((out / "design.json").read_text())
    assert d["cold_start"] and d["current_source"] == "posterior"
    assert d["grid"]["runs"] == len(runs) and d["total_cost"] <= 150
    assert main(["sweep", "plan", str(recipe), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert sum(plan["by_kind"].values()) == len(runs)


def _width(table: pd.DataFrame) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = EmergenceLaw(posterior="bootstrap", n_samples=400, seed=0).fit(table, "simtask")
    lo, hi = fit.interval(0.9)
    return hi - lo


@pytest.mark.slow
def test_designed_batch_never_worse_than_the_table_now():
    """On 5 simulated truths: run the designed batch (its values from the same simulated
    table), refit: the realised 90% width is on average below the current one, and the
    design's expected width is never above the current width."""
    before, after, expected = [], [], []
    for seed in range(20, 25):
        fs, now, rest, _ = split_table(seed)
        table = pd.concat([fs, now], ignore_index=True)
        res = design_runs(table, "simtask", rest[CAND_COLS], 15, seed=seed, **FAST)
        key = ["checkpoint", "n_train", "subset"]
        done = rest.merge(res.runs[key], on=key)
        assert len(done) == len(res.runs)
        before.append(_width(table))
        after.append(_width(pd.concat([table, done], ignore_index=True)))
        expected.append(res.final_width <= res.current_width)
    assert all(expected)
    assert np.mean(after) < np.mean(before)
    assert np.median(np.array(after) / np.array(before)) < 1.0
