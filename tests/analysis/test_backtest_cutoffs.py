"""``backtest --max-cutoffs``: a bound on the work that keeps the question (the cut-off with every
checkpoint, the furthest one, and the ones between spread evenly over the lead), the default
unchanged, and bad values refused as one line naming the option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergence_law.analysis.backtest import CSV_COLUMNS, run_backtest, spread_cutoffs
from emergence_law.cli import main
from emergence_law.errors import SettingError

from .conftest import add_task_nll

OLMO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "olmo-ladder"
#: the fits' own timing differs from run to run; every other column must be the same
SAME = [c for c in CSV_COLUMNS if c != "seconds"]


@pytest.fixture(scope="module")
def full(small_sim):
    obs, _ = small_sim
    return run_backtest(obs, "simtask", law={"posterior": "none"}, workers=1, progress=False)


@pytest.fixture(scope="module")
def bounded(small_sim):
    obs, _ = small_sim
    return run_backtest(obs, "simtask", law={"posterior": "none"}, workers=1, progress=False,
                        max_cutoffs=4)


def _rows(table: pd.DataFrame, held_out) -> pd.DataFrame:
    t = table[table["n_held_out"].isin(list(held_out))]
    return t[SAME].reset_index(drop=True)


# ----------------------------------------------------------------------- choosing the cut-offs


def test_spread_keeps_the_ends_and_spaces_the_rest_evenly_in_log_ratio():
    ratio = np.geomspace(1.05, 100.0, 200)  # cut-off 0 uses every checkpoint: the smallest ratio
    gap = np.linspace(0.1, 1.4, 200) ** 2  # not linear in log ratio: the scale matters
    kept = spread_cutoffs(ratio, gap, 5)
    assert kept[0] == 0 and kept[-1] == 199 and len(kept) == 5
    # evenly spaced in log ratio: equal steps between the kept cut-offs, to one cut-off's step
    steps = np.diff(np.log(ratio[kept]))
    assert steps.max() - steps.min() <= 2 * np.log(ratio[1] / ratio[0]) + 1e-12


def test_spread_follows_the_loss_gap_when_there_is_no_flops_lead():
    """Ratios below 1 (several model sizes) or unknown: the summary reports the loss gap, so the
    cut-offs are spread over that; the furthest is the largest gap, not the largest ratio."""
    gap = np.linspace(0.0, 1.0, 101)
    kept = spread_cutoffs(np.full(101, np.nan), gap, 3)
    assert kept == [0, 50, 100]
    ratio = np.linspace(0.9, 0.1, 101)  # below 1 everywhere: no lead
    assert spread_cutoffs(ratio, gap, 3) == [0, 50, 100]


def test_spread_returns_every_cut_off_when_the_bound_is_not_smaller():
    assert spread_cutoffs(np.array([2.0, 3.0, 4.0]), np.array([0.1, 0.2, 0.3]), 3) == [0, 1, 2]
    assert spread_cutoffs(np.array([2.0, 3.0]), np.array([0.1, 0.2]), 50) == [0, 1]


@pytest.mark.parametrize("n", [1, 0, -3])
def test_a_bound_below_2_is_refused_in_the_library(small_sim, n):
    with pytest.raises(SettingError, match="max_cutoffs"):
        run_backtest(small_sim[0], "simtask", law={"posterior": "none"}, workers=1,
                     progress=False, max_cutoffs=n)


# ------------------------------------------------------------------------- the bounded backtest


def test_the_bound_limits_the_cut_offs_and_keeps_both_ends(full, bounded):
    n_all = len(full.table)
    assert n_all > 4  # else the bound would not bound anything
    held = bounded.table["n_held_out"].tolist()
    assert len(held) == 4 and held == sorted(set(held))
    assert held[0] == 0  # the cut-off with every checkpoint
    ratio = full.table["flops_ratio"]
    assert held[-1] == int(full.table.loc[ratio.idxmax(), "n_held_out"])  # the largest ratio
    assert bounded.info["n_cutoffs"] == 4 and bounded.info["n_cutoffs_all"] == n_all
    assert f"4 of {n_all} cut-offs fitted" in bounded.summary().splitlines()[0]


def test_each_kept_row_is_the_full_backtests_row(full, bounded):
    """No silent change of results: a kept cut-off is fitted exactly as in the full backtest."""
    kept = bounded.table["n_held_out"]
    pd.testing.assert_frame_equal(_rows(bounded.table, kept), _rows(full.table, kept))


def test_the_default_fits_every_cut_off_and_says_nothing_new(full, small_sim):
    obs, _ = small_sim
    gt = full.ground_truth.elbow
    n_pre = obs.loc[obs["loss"] >= gt, "checkpoint"].nunique()
    t = full.table
    assert list(t.columns) == CSV_COLUMNS
    assert t["n_held_out"].tolist() == list(range(n_pre - 2))
    assert full.info["n_cutoffs"] == full.info["n_cutoffs_all"] == len(t)
    assert full.info["max_cutoffs"] is None
    assert "cut-offs fitted" not in full.summary()


def test_a_bound_of_at_least_every_cut_off_changes_nothing(full, small_sim):
    obs, _ = small_sim
    same = run_backtest(obs, "simtask", law={"posterior": "none"}, workers=1, progress=False,
                        max_cutoffs=len(full.table))
    pd.testing.assert_frame_equal(same.table[SAME], full.table[SAME])


# ------------------------------------------------------------------------------------- the CLI


def test_cli_max_cutoffs_writes_the_bounded_table_and_says_how_many(small_sim, tmp_path,
                                                                     capsys):
    obs, _ = small_sim
    path = tmp_path / "obs.csv"
    add_task_nll(obs).to_csv(path, index=False)
    out = tmp_path / "bt"
    rc = main(["backtest", str(path), "--task", "simtask", "--metric", "acc", "--method", "both",
               "--posterior", "none", "--max-cutoffs", "3", "--out", str(out)])
    said = capsys.readouterr().out
    assert rc == 0
    t = pd.read_csv(out / "backtest.csv")
    assert list(t.columns) == CSV_COLUMNS
    for _, g in t.groupby("method"):  # both predictors on the same three cut-offs
        assert len(g) == 3 and g["n_held_out"].iloc[0] == 0
    a, b = (t[t["method"] == m]["n_held_out"].tolist() for m in ("emergence_law", "two_step"))
    assert a == b
    assert "3 of " in said.splitlines()[0] and "cut-offs fitted" in said.splitlines()[0]
    options = json.loads((out / "run_backtest.json").read_text())["options"]
    assert options["max_cutoffs"] == 3


@pytest.mark.parametrize("value", ["0", "1", "-2", "many", "2.5"])
def test_cli_bad_max_cutoffs_is_one_line_naming_the_option(small_csv, tmp_path, capsys, value):
    rc = main(["backtest", str(small_csv), "--task", "simtask", "--posterior", "none",
               "--max-cutoffs", value, "--out", str(tmp_path / "bt")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "--max-cutoffs" in err
    assert not (tmp_path / "bt" / "backtest.csv").exists()  # refused before any work


# ------------------------------------------------------------------------------- real data


def test_real_ladder_run_bounded_keeps_the_full_answer(tmp_path):
    """OLMo 3B at 0.5x Chinchilla, HellaSwag cloze: 29 cut-offs ordered by FLOPs (ratios 1.03 to
    10.7). Six spread in log ratio keep both ends, and every kept row, the largest successful
    ratio among them included, is the full backtest's."""
    run = OLMO / "3B-0.5xC.csv"
    if not run.exists():
        pytest.skip("shared real data absent")
    from emergence_law.analysis.olmo_ladder import read_olmo_ladder

    obs = read_olmo_ladder([run], tasks=["hellaswag_rc"])
    kw = {"method": "two_step", "metric": "len_norm", "law": {"posterior": "none"},
          "workers": 1, "progress": False}
    full = run_backtest(obs, "hellaswag_rc", **kw)
    part = run_backtest(obs, "hellaswag_rc", max_cutoffs=6, **kw)
    assert part.order_by == "flops" and len(full.table) > 6
    held = part.table["n_held_out"].tolist()
    assert len(held) == 6 and held[0] == 0 and held[-1] == len(full.table) - 1
    pd.testing.assert_frame_equal(_rows(part.table, held), _rows(full.table, held))
    steps = np.diff(np.log(part.table["flops_ratio"].to_numpy()))
    assert steps.min() > 0.3 * steps.max()  # spread, not bunched at one end
