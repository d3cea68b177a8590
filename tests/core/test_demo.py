"""``emergence-law demo``: the whole method on the shipped measured lab data (the default) and on
a simulated table (``--simulated``), each labelled with its origin in every output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from emergence_law.cli import main
from emergence_law.demo import SIMULATED_LABEL, run_demo
from emergence_law.lab.shipped import load_lab_summary
from emergence_law.simulate import simulate_observations

README = Path(__file__).resolve().parents[2] / "README.md"


def test_demo_command_runs_on_the_shipped_measured_data(tmp_path, capsys):
    out = tmp_path / "emergence-demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("MEASURED data of the toy model suite") >= 2 and str(out) in text
    assert "SIMULATED" not in text
    for name in ("observations.csv", "demo.json", "run_demo.json", "mcmc/fit.json",
                 "mcmc/fit_curves.png", "mcmc/emergence_cdf.png", "bootstrap/fit.json",
                 "backtest.csv", "backtest.png", "passuntil_fit/passuntil_fit.json",
                 "passuntil_fit/passuntil_fit.png", "report.html"):
        assert (out / name).is_file(), name
    d = json.loads((out / "demo.json").read_text())
    assert d["simulated"] is False and d["method"] == "full"
    # the demo reproduces the lab's own published answer on the same tables
    lab_gt = load_lab_summary()["fewshot_emergence"]["ground_truth"]["elbow"]
    assert abs(d["ground_truth"]["elbow"] - lab_gt) < 1e-6
    assert d["mcmc"]["success"] == (abs(d["mcmc"]["error"]) <= 0.1)
    bt = pd.read_csv(out / "backtest.csv")
    assert {"cutoff_loss", "max_flops_used", "prediction", "p5", "p95", "error", "success",
            "flops_ratio"} <= set(bt.columns)
    page = (out / "report.html").read_text()
    assert "mul-mc" in page and "data:image/png;base64," in page
    # the report opens with the demo's answer: forecast, ground truth, how far in advance
    answer = page[page.index('<div id="answer"'):page.index('class="headline"')]
    assert f"Ground truth: <b>{d['ground_truth']['elbow']:.3f} nats</b>" in answer
    assert f"<b>{d['mcmc']['mle']:.3f} nats</b>" in answer
    assert f"How far in advance: <b>{d['backtest']['flops_ratio']:.3g}&times;</b>" in answer
    assert "PassUntil at N = " in answer and "the unbiased estimate" in answer

    # one source for each figure: the README quotes what the demo prints, with its definition
    readme = README.read_text()
    bt_info = d["backtest"]
    assert f"**{bt_info['flops_ratio']:.2f}×** the FLOPs, as `emergence-law demo` prints it" \
        in readme
    assert f"{bt_info['flops_ratio']:.2f}x" in text and bt_info["definition"] in text
    assert "FLOPs ratio = FLOPs of the first checkpoint past the ground-truth elbow" in readme
    pu = d["passuntil"]
    assert pu["measured_estimator"] == "unbiased"
    assert f"measured: {pu['measured']:.3g}" in text and "unbiased estimate" in text
    quoted = float(re.search(r"vs ([0-9.]+e-[0-9]+) measured", readme).group(1))
    assert abs(quoted - pu["measured"]) / pu["measured"] < 0.01
    row = re.search(r"\| 4\. PassUntil law[^|]*\| ([0-9.]+e-[0-9]+) predicted \(90 % "
                    r"([0-9.]+e-[0-9]+)–([0-9.]+e-[0-9]+)", readme)
    for got, want in zip(row.groups(), (pu["predicted"], *pu["interval"]), strict=True):
        assert abs(float(got) - want) / want < 0.05, (got, want)

    # the README's Python snippet runs as it is, next to the demo's folder
    snippet = re.search(r"### Python\n\n```python\n(.*?)```", readme, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Few-shot emergence point E(D0)" in proc.stdout and (tmp_path / "fit.png").is_file()
    assert "sys:1" not in proc.stderr and "np.float64" not in proc.stderr

def test_simulated_demo_recovers_the_truth(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["demo", "--simulated", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("SIMULATED") >= 2
    d = json.loads((out / "demo.json").read_text())
    assert d["simulated"] is True and d["source"] == SIMULATED_LABEL
    assert abs(d["mcmc"]["mle"] - d["true_emergence_point"]) < 0.05
    p = d["mcmc"]["percentiles"]
    assert p["5"] < d["true_emergence_point"] < p["95"]


def test_run_demo_on_a_given_table_is_not_labelled_simulated(tmp_path):
    df, _ = simulate_observations(seed=4, task="mytask")
    res = run_demo(tmp_path, obs=df, source_label="measured on the toy suite", echo=False,
                   mcmc_samples=300, boot_samples=200, backtest=False, report=False)
    assert res["simulated"] is False and res["task"] == "mytask"
    assert res["source"] == "measured on the toy suite"
    assert abs(res["mcmc"]["mle"] - res["ground_truth"]["elbow"]) < 0.1

