"""``emergence-law passuntil fit``: outputs, contracts and one-line errors."""

from __future__ import annotations

import json

import pytest

from emergence_law.cli import main
from emergence_law.passuntil.simulate import simulate_task


@pytest.fixture(scope="module")
def counts_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("counts") / "counts.csv"
    simulate_task(n_instances=20, seed=7, mean_eta_small=2.2, budget=20_000).counts.drop(
        columns=["r", "budget"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("level", ["pooled", "dataset"])
def test_fit_writes_json_plot_and_provenance(counts_csv, tmp_path, level, capsys):
    out = tmp_path / level
    rc = main(["passuntil", "fit", str(counts_csv), "--target-params", "3.2e9", "--level", level,
               "--out", str(out), "--draws", "100"])
    assert rc == 0
    data = json.loads((out / "passuntil_fit.json").read_text())
    assert data["target_params"] == 3.2e9 and data["level"] == level
    lo, hi = data["interval"]
    assert 0 <= lo <= data["predicted_pass_rate"] <= hi <= 1
    assert (out / "passuntil_fit.png").stat().st_size > 10_000
    assert json.loads((out / "run_passuntil_fit.json").read_text())["command"] == "passuntil fit"
    assert "predicted pass rate" in capsys.readouterr().out


def test_default_level_is_pooled(counts_csv, tmp_path):
    assert main(["passuntil", "fit", str(counts_csv), "--target-params", "1e9", "--out",
                 str(tmp_path), "--draws", "50"]) == 0
    assert json.loads((tmp_path / "passuntil_fit.json").read_text())["level"] == "pooled"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "global"], "Invalid value for '--level': 'global' is not one of"),
        (["--target-params", "-5"], "option --target-params: must be a positive number"),
        (["--confidence", "95"], "option --confidence: must lie in (0, 1)"),
        (["--draws", "3"], "option --draws: need at least 20"),
        (["--task", "other"], "task 'other' has no rows"),
    ],
)
def test_bad_options_give_one_line(counts_csv, tmp_path, capsys, args, message):
    base = ["passuntil", "fit", str(counts_csv), "--target-params", "1e9", "--out", str(tmp_path)]
    rc = main(base + args)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_bad_table_gives_one_line(tmp_path, capsys):
    f = tmp_path / "bad.csv"
    f.write_text("model,params,task,instance,trials,passes\nm,1e8,t,a,ten,1\n")
    rc = main(["passuntil", "fit", str(f), "--target-params", "1e9", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "bad.csv, row 1, column 'trials': expected a number" in err
    assert len(err.splitlines()) == 1


def test_header_only_table_says_no_rows(tmp_path, capsys):
    """A counts CSV with its header alone said "the table holds several tasks ()"."""
    f = tmp_path / "empty.csv"
    f.write_text("model,params,task,instance,trials,passes\n")
    rc = main(["passuntil", "fit", str(f), "--target-params", "1e9", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and f"{f}: no rows" in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "several" not in err


def test_one_model_size_is_not_enough(tmp_path, capsys):
    f = tmp_path / "one.csv"
    f.write_text("model,params,task,instance,trials,passes\nm,1e8,t,a,10,2\nm,1e8,t,b,9,2\n")
    rc = main(["passuntil", "fit", str(f), "--target-params", "1e9", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "at least two model sizes" in err and len(err.splitlines()) == 1
