"""The lab end to end at the test scale ('tiny'): real training, real HF checkpoints, real
evaluation, finetuning (full and LoRA), PassUntil sampling, resumption, and the CLI.

'tiny' is far too small to show emergence (that is what `--scale small` is for; its measured
tables ship with the package and are tested in test_shipped.py); here we check that every piece
really runs and writes what the later stages read.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from emergence_law.cli import main  # noqa: E402
from emergence_law.lab.family import get_scale  # noqa: E402
from emergence_law.lab.pipeline import run_lab  # noqa: E402
from emergence_law.observations import load_observations  # noqa: E402
from emergence_law.store import ResultStore  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    res = run_lab("tiny", out, progress=False, threads=1, workers=2)  # a real process pool
    return out, res


def test_checkpoints_are_real_hf_models(tiny_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = tiny_run
    sc = get_scale("tiny")
    for spec in sc.sizes:
        for step in sc.checkpoints:
            path = out / "models" / spec.name / f"step-{step:06d}"
            model = AutoModelForCausalLM.from_pretrained(path)
            tok = AutoTokenizer.from_pretrained(path)
            assert model.config.hidden_size == spec.d_model
            assert tok.decode(tok("012*003=0036;").input_ids, skip_special_tokens=True) == \
                "012*003=0036;"


def test_observation_table_has_every_measurement(tiny_run):
    out, res = tiny_run
    sc = get_scale("tiny")
    obs = load_observations(res.observations)  # validates every cell
    acc = obs[obs["metric"] == "acc"]
    fs = acc[acc["setting"] == "fewshot"]
    assert len(fs) == len(sc.sizes) * len(sc.checkpoints)
    assert (fs["shots"] == sc.shots).all() and (fs["chance"] == 0.25).all()
    assert fs["loss"].between(0, 4).all() and (fs["flops"] > 0).all()
    # loss falls during training for every size
    for _, r in fs.groupby("model"):
        r = r.sort_values("tokens")
        assert r["loss"].iloc[-1] < r["loss"].iloc[0]
    ft = acc[acc["setting"] == "finetune"]
    grid = ft.groupby(["method", "n_train", "subset"]).size()
    assert set(ft["method"]) == set(sc.methods)
    assert len(grid) == len(sc.methods) * len(sc.data_amounts) * len(sc.subset_seeds)
    assert len(ft) == len(grid) * sc.n_finetune_checkpoints


def test_passuntil_counts_and_summary(tiny_run):
    out, res = tiny_run
    sc = get_scale("tiny")
    counts = pd.read_csv(res.counts)
    assert len(counts) == len(sc.sizes) * sc.passuntil_instances
    assert (counts["trials"] <= sc.passuntil_budget).all()
    assert ((counts["passes"] >= sc.passuntil_r) | counts["censored"]).all()
    summary = json.loads(res.summary.read_text())
    assert set(summary["answers"]) == {"1_fewshot_emergence", "2_finetuning_shifts_elbow",
                                       "3_prediction_vs_ground_truth",
                                       "4_passuntil_largest_model", "5_continuous_metric",
                                       "6_gate_finetuning_elicits"}
    assert "nothing here is simulated" in summary["origin"]
    assert (out / "plots" / "fewshot_emergence.png").stat().st_size > 5000


def test_gate_runs_every_finetuning_setting_on_never_pretrained_models(tiny_run):
    """The gate: each (method, D, steps) of the finetuning grid also ran on the step-0 model of
    every size, and the summary gives each setting's control accuracy and verdict."""
    from emergence_law.lab.gate import CONTROL_FILE

    out, res = tiny_run
    sc = get_scale("tiny")
    control = pd.read_csv(out / CONTROL_FILE)
    assert len(control) == (len(sc.sizes) * len(sc.methods) * len(sc.data_amounts)
                            * len(sc.subset_seeds))
    assert (control["steps"] == sc.finetune_steps).all()
    for spec in sc.sizes:  # the control is the initialisation pretraining started from
        meta = json.loads((out / "models" / spec.name / "step-000000" / "checkpoint.json")
                          .read_text())
        assert meta["step"] == 0 and meta["tokens"] == 0.0 and meta["control"]
    gate = json.loads(res.summary.read_text())["gate"]
    assert len(gate["settings"]) == len(sc.methods) * len(sc.data_amounts)
    for s in gate["settings"]:
        assert s["verdict"] in ("valid", "invalid")
        assert set(s["per_size"]) == {f"lab-{spec.name}" for spec in sc.sizes}
        assert 0.0 <= s["control_acc"] <= 1.0


def test_rerun_resumes_without_redoing_work(tiny_run):
    out, res = tiny_run
    ckpt = out / "models" / "d16" / "step-000030" / "model.safetensors"
    before = ckpt.stat().st_mtime_ns
    store = ResultStore(out / "lab_store.sqlite")
    n_done = store.counts().get("done")
    store.close()
    run_lab("tiny", out, progress=False, threads=1)
    store = ResultStore(out / "lab_store.sqlite")
    assert store.counts().get("done") == n_done
    store.close()
    assert ckpt.stat().st_mtime_ns == before  # training was skipped, not repeated


def test_parallel_training_equals_sequential(tiny_run, tmp_path):
    """The fixture's run trained its sizes in two pool workers; each size trained again here,
    in this process, one after the other, gives bit-identical weights at every checkpoint."""
    import torch
    from safetensors.torch import load_file

    from emergence_law.lab.train import train_family_member

    out, _ = tiny_run
    sc = get_scale("tiny")
    torch.set_num_threads(1)
    for spec in sc.sizes:
        for ck in train_family_member(spec, sc, tmp_path):
            a = load_file(str(ck.path / "model.safetensors"))
            b = load_file(str(out / "models" / spec.name / ck.path.name / "model.safetensors"))
            assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a), ck


def test_training_resumes_bit_for_bit(tmp_path):
    """Interrupt training between checkpoints (Ctrl-C), resume: the final weights equal those of
    an uninterrupted run, and finished checkpoints are not rewritten."""
    import torch
    from safetensors.torch import load_file

    from emergence_law.lab.train import train_family_member

    sc = get_scale("tiny")
    spec = sc.sizes[0]
    full = train_family_member(spec, sc, tmp_path / "a")
    seen = []

    def interrupt(n: int) -> None:
        seen.append(n)
        if sum(seen) == 25:  # after the step-20 checkpoint, before step 30's
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_family_member(spec, sc, tmp_path / "b", advance=interrupt)
    first = tmp_path / "b" / spec.name / f"step-{sc.checkpoints[0]:06d}" / "model.safetensors"
    stamp = first.stat().st_mtime_ns
    assert not (tmp_path / "b" / spec.name / f"step-{sc.steps:06d}").exists()
    again = train_family_member(spec, sc, tmp_path / "b")
    assert first.stat().st_mtime_ns == stamp
    for x, y in zip(full, again, strict=True):
        a = load_file(str(x.path / "model.safetensors"))
        b = load_file(str(y.path / "model.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a), x.step


def test_cli_rejects_unknown_scale_in_one_line(capsys):
    assert main(["lab", "run", "--scale", "huge"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--scale" in err[0] and "huge" in err[0]


def test_measurements_run_as_sweep_recipes_each_job_once(tiny_run):
    """The lab measures through the project's own sweep: its two recipes load and plan like any
    user's, every planned job is done exactly once in the store (two workers claim jobs
    atomically), and the table holds exactly those jobs' rows."""
    from emergence_law.sweep import load_recipe, plan_recipe

    out, res = tiny_run
    sc = get_scale("tiny")
    plans = [plan_recipe(load_recipe(out / name))
             for name in ("lab_measure.yaml", "lab_finetune.yaml")]
    ids = set(plans[0].ids) | set(plans[1].ids)
    n_ck = len(sc.sizes) * len(sc.checkpoints)
    assert plans[0].counts_by_kind() == {"fewshot": n_ck, "python:loss": n_ck}
    assert plans[1].counts_by_kind()["finetune"] == (
        len(sc.methods) * len(sc.data_amounts) * len(sc.subset_seeds)
        * sc.n_finetune_checkpoints)
    with ResultStore(out / "lab_store.sqlite") as store:
        status = store.statuses(sorted(ids))
        assert set(status.values()) == {"done"} and len(status) == len(ids)
        jobs = store.jobs()
        assert set(jobs["attempts"]) == {1}  # nothing ran twice
    obs = load_observations(res.observations)
    assert set(obs["metric"]) == {"acc", "logprob_norm", "prob_norm"}
    lp = obs[obs["metric"] == "logprob_norm"]
    assert (lp["value"] <= 0).all() and lp["log_chance"].astype(float).round(6).eq(-1.386294).all()
    # finetuning runs through measure.finetune with the lab's format (packed, no EOS)
    ft = next(j.definition for j in plans[1].jobs if j.kind == "finetune")
    assert ft["hparams"]["pack"] == 6
    assert ft["hparams"]["append_eos"] is False and ft["shots"] == sc.shots


def test_lab_run_seed_reaches_every_stage_and_a_folder_keeps_its_seed(tmp_path, capsys):
    """``lab run --seed 1`` trains another pretraining run (its checkpoints and the summary say
    seed 1); running seed 0 into that folder is refused in one line instead of resuming from
    seed 1's checkpoints as if they were its own."""
    import json

    from emergence_law.jsonfile import read_json

    out = tmp_path / "seed1"
    assert main(["lab", "run", "--scale", "tiny", "--seed", "1", "--out", str(out),
                 "--no-progress", "--workers", "1"]) == 0
    capsys.readouterr()
    assert json.loads((out / "lab_summary.json").read_text())["scale"]["seed"] == 1
    done = sorted(out.glob("models/*/step-*/*.json"))
    metas = [read_json(p) for p in done if "seed" in read_json(p)]
    assert metas and all(m["seed"] == 1 for m in metas)
    assert main(["lab", "run", "--scale", "tiny", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--seed" in err[0] and "checkpoints of seed 1, not 0" in err[0]
    assert main(["lab", "run", "--scale", "tiny", "--seed", "-1", "--out", str(out)]) == 2
    assert "--seed" in capsys.readouterr().err
