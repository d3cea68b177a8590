"""The ``fit`` and ``demo`` commands, run in-process through the real CLI entry point."""

from __future__ import annotations

import json

import pandas as pd

from emergence_law.cli import main


def test_fit_writes_contract_outputs(sim, sim_csv, tmp_path, capsys):
    truth = sim[1]
    out = tmp_path / "out"
    rc = main([
        "fit", str(sim_csv), "--task", "simtask", "--posterior", "bootstrap", "--samples", "200",
        "--min-loss", str(truth["emergence_point"]), "--out", str(out), "--seed", "3",
    ])
    assert rc == 0
    text = capsys.readouterr().out
    assert "median" in text and "MLE" in text and "fit.json" in text
    for name in ("fit.json", "fit_curves.png", "emergence_cdf.png", "data_used.csv",
                 "run_fit.json"):
        assert (out / name).is_file(), name
    d = json.loads((out / "fit.json").read_text())
    assert d["task"] == "simtask" and d["form"] == "log_power" and d["d0"] == 5
    ep = d["emergence_point"]
    assert abs(ep["mle"] - truth["emergence_point"]) < 0.05
    assert len(ep["samples"]) == 200
    assert ep["percentiles"]["5"] <= ep["median"] <= ep["percentiles"]["95"]
    assert d["posterior"]["method"] == "bootstrap" and d["posterior"]["unit"] == "parametric"
    used = pd.read_csv(out / "data_used.csv")
    assert (used["loss"] >= truth["emergence_point"]).all()
    assert json.loads((out / "run_fit.json").read_text())["options"]["samples"] == 200


def test_fit_bad_option_is_one_line(sim_csv, tmp_path, capsys):
    rc = main(["fit", str(sim_csv), "--task", "simtask", "--form", "cubic",
               "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--form" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_fit_unknown_task_and_missing_file(sim_csv, tmp_path, capsys):
    assert main(["fit", str(sim_csv), "--task", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and str(sim_csv) in err and len(err.strip().splitlines()) == 1
    assert main(["fit", str(tmp_path / "x.csv"), "--task", "t", "--out", str(tmp_path)]) == 2
    assert "x.csv" in capsys.readouterr().err


def test_fit_bad_row_names_row_and_column(sim, tmp_path, capsys):
    df = sim[0].copy()
    df["value"] = df["value"].astype(object)
    df.loc[6, "value"] = "oops"
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    assert main(["fit", str(path), "--task", "simtask", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "row 7" in err and "'value'" in err and "bad.csv" in err


def test_not_identifiable_is_an_error_not_a_number(sim, tmp_path, capsys):
    df = sim[0]
    one_level = df[(df["setting"] == "fewshot") | (df["n_train"] == 300)]
    path = tmp_path / "one.csv"
    one_level.to_csv(path, index=False)
    assert main(["fit", str(path), "--task", "simtask", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "at least 2 levels" in err
    assert not (tmp_path / "o" / "fit.json").exists()
