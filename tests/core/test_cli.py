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
    df[df["setting"] == "fewshot"].to_csv(path, index=False)  # few-shot only: what to use
    assert main(["fit", str(path), "--task", "simtask", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no finetuned rows" in err and "ground-truth" in err and "ladder" in err
    assert "backtest --method two_step" in err and "Traceback" not in err


def test_out_that_is_a_file_or_under_one_is_one_line(sim_csv, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, words in ((afile, "is a file, not a folder"), (afile / "sub", "is a file, so no "
                                                                          "folder")):
        for cmd in (["fit", str(sim_csv), "--task", "simtask"],
                    ["backtest", str(sim_csv), "--task", "simtask"], ["demo"]):
            assert main([*cmd, "--out", str(out)]) == 2
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and "'--out'" in err and words in err, err
            assert "Traceback" not in err and "Error:" not in err


def test_several_finetuning_methods_name_the_option(sim, tmp_path, capsys):
    df = sim[0].copy()
    df["method"] = df["method"].astype(object)
    ft = df["setting"] == "finetune"
    df.loc[ft, "method"] = "full"
    other = df[ft].assign(method="lora-r4")
    path = tmp_path / "two.csv"
    pd.concat([df, other]).to_csv(path, index=False)
    assert main(["fit", str(path), "--task", "simtask", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "several methods (full, lora-r4); choose one: --method full in fit, --ft-method " \
        "full in ablate, backtest and compare, method='full' in Python" in err
    for cmd in ("ablate", "backtest"):  # refused up front, naming the file, nothing written
        out = tmp_path / cmd
        assert main([cmd, str(path), "--task", "simtask", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"emergence-law: error: {path}, column 'method'") and \
            "--ft-method full in ablate, backtest and compare" in err and "\n" not in err
        assert not out.exists()
    assert main(["fit", str(path), "--task", "simtask", "--method", "full", "--posterior",
                 "none", "--out", str(tmp_path / "o")]) == 0


def test_outputs_get_the_umask_mode(sim_csv, tmp_path, capsys):
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = tmp_path / "out"
        assert main(["fit", str(sim_csv), "--task", "simtask", "--posterior", "none",
                     "--out", str(out)]) == 0
        assert main(["report", str(out)]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    for name in ("report.html", "data_used.csv", "fit.json", "fit_curves.png"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name


def test_api_warnings_point_at_the_caller_without_reprs(sim, tmp_path):
    """A script's fit warns at the script's own line (not 'sys:1'), with numbers, not reprs."""
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(  # the shipped lab data: alpha at its bound, MLE at the data's edge
        "from emergence_law import EmergenceLaw\n"
        "from emergence_law.lab.shipped import load_lab_observations as load\n"
        "EmergenceLaw(posterior='none').fit(load(), 'mul-mc', min_loss=1.877, method='full')\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "sys:1" not in proc.stderr and "np.float64" not in proc.stderr
    warned = [line for line in proc.stderr.splitlines() if "Warning:" in line]
    assert len(warned) == 2 and "sits at its bound [-2, 4]" in warned[0]
    assert all(line.startswith(f"{script}:3: IdentifiabilityWarning: ") for line in warned)


def test_to_params_auto_with_constant_tokens_fits_size(sim_csv, tmp_path, capsys):
    out = tmp_path / "fit"
    assert main(["fit", str(sim_csv), "--task", "simtask", "--posterior", "none",
                 "--out", str(out)]) == 0
    scaling = tmp_path / "scaling.csv"
    pd.DataFrame({"params": [1e6, 3e6, 1e7, 3e7, 1e8], "tokens": [1e9] * 5,
                  "loss": [3.2, 2.9, 2.65, 2.45, 2.3]}).to_csv(scaling, index=False)
    assert main(["to-params", str(out / "fit.json"), "--scaling", str(scaling), "--bootstrap",
                 "20", "--out", str(tmp_path / "tp")]) == 0
    capsys.readouterr()
    d = json.loads((tmp_path / "tp" / "to_params.json").read_text())
    assert "chinchilla" not in json.dumps(d.get("scaling", d)).lower()


def test_readme_commands_on_the_demo_data_work_or_name_the_fix(tmp_path, capsys):
    """The README's quick-tour commands, with its obs.csv/mmlu replaced by the demo's table and
    task: each either runs or stops at once with one line naming the option that fixes it."""
    import re
    import shlex
    from pathlib import Path

    from emergence_law.lab.shipped import load_lab_observations

    obs = tmp_path / "obs.csv"
    load_lab_observations().to_csv(obs, index=False)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"### Command line\n\n```bash\n(.*?)```", readme, re.S).group(1)
    fixes = {"fit": "--method full in fit", "ablate": "--ft-method full in ablate",
             "backtest": "--ft-method full in ablate", "compare": "(series: lab-small)"}
    seen = set()
    for line in block.splitlines():
        words = shlex.split(line.split("#")[0])
        if len(words) < 2 or words[0] != "emergence-law" or words[1] not in fixes:
            continue
        args = [str(obs) if w == "obs.csv" else "mul-mc" if w == "mmlu" else
                str(tmp_path / "out") if w == "out/" else w for w in words[1:]]
        assert main(args) == 2, line
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fixes[words[1]] in err, (line, err)
        assert not (tmp_path / "out").exists()  # refused before any work
        seen.add(words[1])
    assert seen == set(fixes)
