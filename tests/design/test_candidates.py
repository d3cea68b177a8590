"""Candidate files: checked cell by cell (one-line errors naming file, row, column, exit 2),
subsets numbered, runs already measured left out, and the cost model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emergence_law.cli import main
from emergence_law.design import finetune_cost, prepare_candidates
from emergence_law.errors import DataError

GOOD = {"model": "m", "checkpoint": "c1", "loss": 2.0, "n_train": 100, "method": "full"}


def _run_bad(files, tmp_path, capsys, frame: pd.DataFrame, name: str = "bad.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    rc = main(["design", str(files / "obs.csv"), "--task", "simtask", "--candidates",
               str(path), "--budget", "5", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o" / "next_runs.csv").exists()
    return err


@pytest.mark.parametrize("change, row, column", [
    ({"loss": [2.0, "two", 1.9]}, 2, "loss"),
    ({"n_train": [100, 0, 300]}, 2, "n_train"),
    ({"n_train": [100, 30.5, 300]}, 2, "n_train"),
    ({"method": ["full", "full", None]}, 3, "method"),
    ({"method": ["full", "full", "lora-r4"]}, 3, "method"),
    ({"cost": [1.0, -2.0, 1.0]}, 2, "cost"),
    ({"cost": [1.0, 2.0, None]}, 3, "cost"),
    ({"subset": [0, 0, 0], "checkpoint": ["c1", "c1", "c1"]}, 2, "subset"),
])
def test_bad_cell_names_file_row_column(files, tmp_path, capsys, change, row, column):
    df = pd.DataFrame([GOOD, {**GOOD, "checkpoint": "c2"}, {**GOOD, "checkpoint": "c3"}])
    for k, v in change.items():
        df[k] = v
    err = _run_bad(files, tmp_path, capsys, df)
    assert "bad.csv" in err and f"row {row}" in err and f"'{column}'" in err, err


def test_missing_column_and_file(files, tmp_path, capsys):
    df = pd.DataFrame([GOOD]).drop(columns="n_train")
    err = _run_bad(files, tmp_path, capsys, df)
    assert "bad.csv" in err and "'n_train'" in err and "missing" in err
    rc = main(["design", str(files / "obs.csv"), "--task", "simtask", "--candidates",
               str(tmp_path / "nope.csv"), "--budget", "5", "--out", str(tmp_path / "o")])
    assert rc == 2 and "nope.csv" in capsys.readouterr().err


def test_bad_options_are_one_line(files, tmp_path, capsys):
    base = ["design", str(files / "obs.csv"), "--task", "simtask", "--out", str(tmp_path)]
    assert main(base + ["--candidates", str(files / "cands.csv"), "--budget", "0"]) == 2
    assert "--budget" in capsys.readouterr().err
    assert main(base + ["--budget", "3"]) == 2                  # neither candidates nor ckpts
    assert "--candidates" in capsys.readouterr().err
    assert main(base + ["--checkpoints", str(files / "ckpts.csv"), "--budget", "3",
                        "--levels", "30,x"]) == 2
    assert "--levels" in capsys.readouterr().err


def test_subsets_numbered_and_measured_runs_left_out(warm):
    table, rest, _ = warm
    now = table[table["setting"] == "finetune"]
    r = now.iloc[0]
    cands = pd.DataFrame([
        {"model": r["model"], "checkpoint": r["checkpoint"], "loss": r["loss"],
         "n_train": int(r["n_train"]), "method": "full"},              # next free subset: 1
        {"model": r["model"], "checkpoint": r["checkpoint"], "loss": r["loss"],
         "n_train": int(r["n_train"]), "method": "full", "subset": 0},  # already measured
        {**GOOD, "checkpoint": "new"}, {**GOOD, "checkpoint": "new"},   # subsets 0 and 1
    ])
    out = prepare_candidates(cands, observations=table)
    assert out.attrs["already_measured"] == 1
    assert list(out["subset"]) == [1, 0, 1]
    assert list(out["cost"]) == [1.0, 1.0, 1.0]


def test_cost_model_from_params():
    cands = pd.DataFrame([{**GOOD, "params": 1e9, "n_train": 1000},
                          {**GOOD, "params": 7e9, "n_train": 3000, "epochs": 2, "n_eval": 500,
                           "checkpoint": "c2"}])
    out = prepare_candidates(cands)
    # one epoch of 1000 examples on a 1B model, no evaluation cost (n_eval unknown) = 1
    assert out["cost"].iloc[0] == pytest.approx(1.0)
    assert out["cost"].iloc[1] == pytest.approx(7 * (6 * 3000 * 2 + 2 * 500) / 6000)
    assert np.allclose(finetune_cost([1e9], [1000]), 1.0)
    with pytest.raises(DataError, match="params"):
        prepare_candidates(pd.DataFrame([{**GOOD, "params": 1e9},
                                         {**GOOD, "checkpoint": "c2", "params": None}]))
