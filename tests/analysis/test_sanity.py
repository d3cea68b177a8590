"""A prediction far outside the table, or without a finite interval, is a failure with a reason;
two-step backtests work on tables with several finetuning methods; nothing fitted exits 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emergence_law.analysis.sanity import check_prediction
from emergence_law.cli import main

from .conftest import add_task_nll


def test_check_prediction_reasons():
    ok = {"mle": 1.9, "samples": np.array([1.8, 1.9, 2.0])}
    assert check_prediction(ok, (1.6, 2.6), True) is None
    far = {**ok, "mle": 37.14}  # the two-step cut-off
    assert "outside the table's loss range" in check_prediction(far, (1.6, 2.6), True)
    assert "outside" in check_prediction({**ok, "mle": 0.5}, (1.6, 2.6), True)
    assert check_prediction({**ok, "mle": 0.7}, (1.6, 2.6), True) is None  # within one span
    assert "not finite" in check_prediction({**ok, "mle": np.nan}, (1.6, 2.6), True)
    nan = {**ok, "samples": np.array([1.9, np.nan, np.inf])}
    assert "interval is not finite" in check_prediction(nan, (1.6, 2.6), True)
    assert check_prediction(nan, (1.6, 2.6), False) is None  # no interval asked for
    wide = {**ok, "samples": np.array([1.8, 1.9, 47.0] * 10)}
    assert "reaches outside" in check_prediction(wide, (1.6, 2.6), True)
    assert "no posterior draws" in check_prediction({**ok, "samples": None}, (1.6, 2.6), True)
    edge = {**ok, "diagnostics": {"rise_seen": 0.0}}
    assert "range's edge" in check_prediction(edge, (1.6, 2.6), True)


@pytest.fixture(scope="module")
def two_methods_csv(small_sim, tmp_path_factory):
    """The small simulated table with a second finetuning method and a log-prob metric."""
    obs = small_sim[0]
    lora = obs[obs["setting"] == "finetune"].copy()
    lora["method"] = "lora-r4"
    both = add_task_nll(pd.concat([obs, lora], ignore_index=True))
    path = tmp_path_factory.mktemp("two") / "obs.csv"
    both.to_csv(path, index=False)
    return path


def test_backtest_both_with_ft_method_fits_the_two_step_rows(two_methods_csv, tmp_path, capsys):
    """Was: every two-step row failed ('several methods; choose one') and the summary said
    '0 fitted'. The two-step baseline reads only few-shot rows."""
    rc = main(["backtest", str(two_methods_csv), "--task", "simtask", "--method", "both",
               "--ft-method", "full", "--posterior", "none", "--workers", "1",
               "--out", str(tmp_path)])
    assert rc == 0
    t = pd.read_csv(tmp_path / "backtest.csv")
    two = t[t["method"] == "two_step"]
    assert (two["status"] == "ok").sum() >= 5, two["reason"].tolist()
    failed = two.loc[two["status"] != "ok", "reason"]
    assert failed.str.contains("needs at least 4 checkpoints").all()  # 3 left: too few
    assert not two["reason"].fillna("").str.contains("several methods").any()
    ok = t[t["status"] == "ok"]
    lo, hi = 1.6 - 1.0, 2.6 + 1.0  # the table's loss range widened by its span
    assert ok["prediction"].between(lo, hi).all()
    assert "0 fitted" not in capsys.readouterr().out
    # the two-step method alone needs no --ft-method on a table with two finetuning methods
    assert main(["backtest", str(two_methods_csv), "--task", "simtask", "--method", "two_step",
                 "--posterior", "none", "--workers", "1", "--out", str(tmp_path / "b")]) == 0


def test_ablate_with_nothing_fitted_exits_1(small_csv, small_sim, tmp_path, capsys):
    obs = small_sim[0]
    high = float(np.sort(obs["loss"].unique())[-3])  # only 3 checkpoints at or above it
    rc = main(["ablate", str(small_csv), "--task", "simtask", "--cutoff", str(high),
               "--only", "last 3 checkpoints", "--posterior", "none", "--workers", "1",
               "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]  # (after the progress bar)
    assert rc == 1 and "error: no ablation fitted" in last and err.count("error") == 1
    t = pd.read_csv(tmp_path / "ablations.csv")
    assert (t["status"] == "skipped").all()
