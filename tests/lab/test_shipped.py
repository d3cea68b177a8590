"""The lab's measured tables shipped as package data: they load, validate, cover the method's
design, and re-analysing them reproduces the shipped summary (so the summary is what this code
computes from these tables, not a hand-edited file)."""

from __future__ import annotations

import math

import pytest

from emergence_law.lab import (
    lab_data_origin,
    load_lab_control,
    load_lab_observations,
    load_lab_passuntil_counts,
    load_lab_summary,
)


def test_observations_load_validated_and_cover_the_design():
    obs = load_lab_observations()
    acc = obs[(obs["task"] == "mul-mc") & (obs["metric"] == "acc")]
    fs = acc[acc["setting"] == "fewshot"]
    ft = acc[acc["setting"] == "finetune"]
    assert fs["model"].nunique() >= 3 and len(fs) >= 30
    assert (fs["n_eval"] >= 500).all() and (acc["chance"] == 0.25).all()
    assert ft.groupby("method")["n_train"].nunique().min() >= 4
    assert ft.groupby(["method", "n_train"])["subset"].nunique().min() >= 2
    assert set(ft["method"]) >= {"full", "lora-r4"}
    # finetuned checkpoints are pre-emergence ones: all of them are few-shot checkpoints too
    keys = set(zip(fs["model"], fs["checkpoint"], strict=True))
    assert set(zip(ft["model"], ft["checkpoint"], strict=True)) <= keys
    assert (obs["flops"] > 0).all() and obs["loss"].between(0.0, 3.0).all()


def test_passuntil_counts_load_validated():
    counts = load_lab_passuntil_counts()
    assert counts["params"].nunique() >= 3
    assert counts.groupby("params")["instance"].nunique().min() >= 20
    assert ((counts["passes"] >= counts["r"]) | counts["censored"]).all()


def test_summary_names_its_origin_and_answers_the_four_questions():
    s = load_lab_summary()
    assert "lab run --scale small" in lab_data_origin()
    assert len(s["answers"]) >= 5 and all(s["answers"].values())


def test_shipped_gate_covers_every_finetuning_setting():
    """The gate ships with the tables: each (method, D, steps) of the finetuning grid was also
    run on never-pretrained models of every size, with its control accuracy and verdict."""
    control, s = load_lab_control(), load_lab_summary()
    assert control is not None and "gate" in s
    obs = load_lab_observations()
    ft = obs[(obs["setting"] == "finetune") & (obs["metric"] == "acc")]
    want = set(zip(ft["method"], ft["n_train"], strict=True))
    got = {(g["method"], g["n_train"]) for g in s["gate"]["settings"]}
    assert got == want
    sizes = set(obs.loc[obs["setting"] == "fewshot", "model"])
    for g in s["gate"]["settings"]:
        assert set(g["per_size"]) == sizes and g["verdict"] in ("valid", "invalid")
        assert (g["verdict"] == "invalid") == (g["p_value_min"] < s["gate"]["alpha"])


@pytest.mark.slow
def test_reanalysing_the_shipped_tables_reproduces_the_summary(tmp_path):
    pytest.importorskip("matplotlib")
    import json

    from emergence_law.lab.family import get_scale
    from emergence_law.lab.pipeline import write_results

    shipped = load_lab_summary()
    sc = get_scale(shipped["scale"]["name"])
    res = write_results(load_lab_observations(), load_lab_passuntil_counts(), tmp_path, sc,
                        control=load_lab_control())
    again = json.loads(res.summary.read_text())
    gt0 = shipped["fewshot_emergence"].get("ground_truth", {}).get("elbow")
    gt1 = again["fewshot_emergence"].get("ground_truth", {}).get("elbow")
    assert (gt0 is None and gt1 is None) or math.isclose(gt0, gt1, abs_tol=1e-9)
    for method, r in shipped.get("prediction", {}).get("methods", {}).items():
        if "mle" in r:
            assert math.isclose(r["mle"], again["prediction"]["methods"][method]["mle"],
                                abs_tol=1e-6)
    if "gate" in shipped:
        assert again["gate"] == shipped["gate"]
    for png in res.plots:
        assert png.stat().st_size > 5000


_RETRAIN = """
import json, sys
from dataclasses import replace
from emergence_law.commands.lab import use_cpu_kernels
use_cpu_kernels(sys.argv[2])  # the lab command's own setting, before torch loads
import torch
from emergence_law.lab.family import get_scale
from emergence_law.lab.loss import loss_job
from emergence_law.lab.train import train_family_member

small = get_scale("small")
sc = replace(small, sizes=small.sizes[:1], steps=45, lr_steps=small.schedule_steps,
             checkpoints=(25, 33, 45))
torch.set_num_threads(1)
out = {"kernels": torch.backends.cpu.get_cpu_capability()}
for ck in train_family_member(sc.sizes[0], sc, sys.argv[1]):
    row = loss_job({"model": str(ck.path), "checkpoint": f"step-{ck.step}",
                    "hparams": {"n_val_rows": sc.n_val_rows, "mixture": dict(sc.mixture),
                                "seed": sc.seed}})[0]
    out[f"step-{ck.step}"] = row["loss"]
print(json.dumps(out))
"""


def _retrain_small_d24(tmp_path, kernels: str) -> dict:
    """small's d24 retrained to step 45 in a fresh process whose torch uses ``kernels``
    (``lab run --cpu-kernels``; torch fixes its kernels at its first CPU op, so a process of
    its own): the loss at steps 25, 33 and 45, and the kernels torch reports."""
    import json
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _RETRAIN, str(tmp_path), kernels],
                          env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_pinned_versions_retrain_the_shipped_models_exactly(tmp_path):
    """The shipped tables are what a fresh ``lab run --scale small`` writes with the versions of
    constraints.txt: small's d24, retrained here to step 45 (its schedule unchanged), has
    exactly the shipped loss at its first three checkpoints, to the last bit. A release of
    torch or transformers that changes the lab's arithmetic fails here, in seconds, instead of
    silently in a 6-minute lab run (chaotic training turns 1e-7 into 0.1 of accuracy).

    Under the lab's default kernels (``--cpu-kernels avx2``) where they give the shipped bits
    (the AVX-512 machines of 2026-12-02, whose own kernels give 2.0441516240 at step 45 instead
    of the shipped 2.0441517035), else under the CPU's own kernels (the machine the tables were
    made on): the bits depend on the CPU as well as on the versions (docs/lab.md, "The CPU's
    kernels")."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    obs = load_lab_observations()
    shipped = obs[obs["model"] == "lab-d24"].groupby("checkpoint")["loss"].first()
    want = [float(shipped[f"step-{step}"]) for step in (25, 33, 45)]
    tried = {}
    for kernels in ("avx2", "native"):
        again = _retrain_small_d24(tmp_path / kernels, kernels)
        tried[f"{kernels} ({again['kernels']})"] = got = [again[f"step-{s}"] for s in (25, 33, 45)]
        if got == want:
            return
    pytest.fail(f"no kernels retrain the shipped d24: shipped {want}, retrained {tried}")
