"""The facts-small lab run shipped as package data (``data/facts-small/``): the tables load
validated, cover the family's design and the gate, re-analysing them rewrites the summary, and
``emergence-law demo --lab-data facts-small`` runs the whole method on them."""

from __future__ import annotations

import json
import math

import pytest

from emergence_law.cli import main
from emergence_law.errors import SettingError
from emergence_law.lab.family import get_scale
from emergence_law.lab.shipped import (
    data_path,
    lab_data_origin,
    load_lab_control,
    load_lab_observations,
    load_lab_passuntil_counts,
    load_lab_summary,
)

LAB = "facts-small"


def test_facts_tables_load_validated_and_cover_the_design():
    sc = get_scale(LAB)
    obs, summary = load_lab_observations(LAB), load_lab_summary(LAB)
    acc = obs[(obs["task"] == "facts-mc") & (obs["metric"] == "acc")]
    fs, ft = acc[acc["setting"] == "fewshot"], acc[acc["setting"] == "finetune"]
    # every size at every checkpoint, 1,000 balanced items, chance exactly 1/4
    assert fs.groupby("model")["checkpoint"].nunique().to_dict() == {
        f"lab-{s.name}": len(sc.checkpoints) for s in sc.sizes}
    assert (acc["n_eval"] == sc.n_eval).all() and (acc["chance"] == 0.25).all()
    # the x-axis is the held-out pretraining loss: falls with training, 1.5-1.7 nats late on
    assert summary["scale"]["facts_axis"] == "val"
    last = fs[fs["checkpoint"] == f"step-{sc.steps}"]
    assert last["loss"].between(1.5, 1.7).all() and (fs["loss"] < 8).all()
    # the finetuning grid: both methods x every D x the subset seed, on pre-emergence checkpoints
    grid = ft.groupby(["model", "checkpoint"])[["method", "n_train", "subset"]].apply(
        lambda g: set(map(tuple, g.to_numpy().tolist())))
    want = {(m, d, s) for m in ("full", "lora-r4") for d in sc.data_amounts
            for s in sc.subset_seeds}
    assert all(g == want for g in grid) and len(grid) == sc.n_finetune_checkpoints
    elbow = summary["fewshot_emergence"]["ground_truth"]["elbow"]
    assert (ft["loss"] > elbow).all()
    assert summary["scale"]["name"] == LAB and summary["scale"]["family"] == "facts"
    assert summary["versions"]["torch-cpu-kernels"] == "AVX2"
    assert "lab run --scale facts-small" in lab_data_origin(LAB)
    # the law's E(D) run off 1.7-3.3 nats past the finetuned checkpoints: the answer says so
    # and gives each level's own elbow instead of calling 4.8 nats "higher, increasing"
    assert summary["finetune_shift"]["law_beyond_data"] == ["full", "lora-r4"]
    assert "lie outside the finetuned checkpoints' losses" in summary["answers"][
        "2_finetuning_shifts_elbow"]


def test_facts_gate_and_passuntil_ship_with_the_tables():
    control, s = load_lab_control(LAB), load_lab_summary(LAB)
    assert control is not None and "gate" in s
    obs = load_lab_observations(LAB)
    ft = obs[(obs["setting"] == "finetune") & (obs["metric"] == "acc")]
    assert {(g["method"], g["n_train"]) for g in s["gate"]["settings"]} == set(
        zip(ft["method"], ft["n_train"], strict=True))
    for g in s["gate"]["settings"]:
        assert (g["verdict"] == "invalid") == (g["p_value_min"] < s["gate"]["alpha"])
    counts = load_lab_passuntil_counts(LAB)
    assert set(counts["task"]) == {"facts"} and counts["params"].nunique() == 3


def test_an_unknown_shipped_lab_is_a_setting_error():
    with pytest.raises(SettingError, match="unknown shipped lab data 'huge'"):
        data_path("lab_summary.json", "huge")


@pytest.mark.slow
def test_reanalysing_the_facts_tables_reproduces_the_summary(tmp_path):
    pytest.importorskip("matplotlib")
    from emergence_law.lab.pipeline import write_results

    shipped = load_lab_summary(LAB)
    res = write_results(load_lab_observations(LAB), load_lab_passuntil_counts(LAB), tmp_path,
                        get_scale(LAB), control=load_lab_control(LAB))
    again = json.loads(res.summary.read_text())
    assert math.isclose(shipped["fewshot_emergence"]["ground_truth"]["elbow"],
                        again["fewshot_emergence"]["ground_truth"]["elbow"], abs_tol=1e-9)
    for method, r in shipped["prediction"]["methods"].items():
        if "mle" in r:
            assert math.isclose(r["mle"], again["prediction"]["methods"][method]["mle"],
                                abs_tol=1e-6)
    assert again["gate"] == shipped["gate"]
    assert again["answers"] == shipped["answers"]


def test_the_demo_runs_on_the_facts_tables(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--lab-data", LAB, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "lab run --scale facts-small" in text
    d = json.loads((out / "demo.json").read_text())
    assert d["task"] == "facts-mc" and d["simulated"] is False
    lab_gt = load_lab_summary(LAB)["fewshot_emergence"]["ground_truth"]["elbow"]
    assert abs(d["ground_truth"]["elbow"] - lab_gt) < 1e-6
    assert (out / "report.html").is_file() and (out / "passuntil_fit").is_dir()


def test_the_demo_refuses_an_unknown_lab_in_one_line(tmp_path, capsys):
    assert main(["demo", "--lab-data", "facts-large", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--lab-data" in err[0] and "facts-large" in err[0]


def test_the_facts_plots_name_the_runs_x_axis(tmp_path, monkeypatch):
    """facts-small measures ``val`` (the held-out pretraining loss): the few-shot and
    continuous figures say so (they used to say ``tru`` for every facts run)."""
    pytest.importorskip("matplotlib")
    from emergence_law.lab import plots
    from emergence_law.lab.results import ground_truth

    labels: list[str] = []
    save = plots._save

    def spy(fig, path):
        labels.extend(ax.get_xlabel() for ax in fig.axes if ax.get_xlabel())
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    obs = load_lab_observations(LAB)
    axis = load_lab_summary(LAB)["scale"]["facts_axis"]
    plots.plot_fewshot(obs, ground_truth(obs), tmp_path / "f.png", axis)
    plots.plot_continuous_if_measured(obs, ground_truth(obs), tmp_path / "c.png", axis)
    assert len(labels) == 3 and all(lbl.startswith("val: held-out pretraining loss")
                                    for lbl in labels)
