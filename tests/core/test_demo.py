"""``emergence-law demo``: the whole path on the built-in (simulated, and labelled so) table."""

from __future__ import annotations

import json

from emergence_law.cli import main
from emergence_law.demo import SIMULATED_LABEL, run_demo
from emergence_law.simulate import simulate_observations


def test_demo_command_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("SIMULATED") >= 2 and str(out) in text
    for name in ("observations.csv", "demo.json", "run_demo.json", "mcmc/fit.json",
                 "mcmc/fit_curves.png", "mcmc/emergence_cdf.png", "bootstrap/fit.json"):
        assert (out / name).is_file(), name
    d = json.loads((out / "demo.json").read_text())
    assert d["simulated"] is True and d["source"] == SIMULATED_LABEL
    assert abs(d["mcmc"]["mle"] - d["true_emergence_point"]) < 0.05
    p = d["mcmc"]["percentiles"]
    assert p["5"] < d["true_emergence_point"] < p["95"]


def test_run_demo_on_a_given_table_is_not_labelled_simulated(tmp_path):
    df, _ = simulate_observations(seed=4, task="mytask")
    res = run_demo(tmp_path, obs=df, source_label="measured on the toy suite", echo=False,
                   mcmc_samples=300, boot_samples=200)
    assert res["simulated"] is False and res["task"] == "mytask"
    assert res["source"] == "measured on the toy suite"
    assert abs(res["mcmc"]["mle"] - res["ground_truth"]["elbow"]) < 0.1
