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
    res = run_lab("tiny", out, progress=False, threads=1, workers=2)  # a real helper process
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
                                       "4_passuntil_largest_model"}
    assert "nothing here is simulated" in summary["origin"]
    assert (out / "plots" / "fewshot_emergence.png").stat().st_size > 5000


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


def test_lora_finetuning_is_reproducible_whatever_the_global_rng_state(tiny_run):
    """LoRA's adapter init draws from torch's global generator: the job must seed it, or the
    same job gives different numbers in different processes (found in the shipped run)."""
    import torch
    from transformers import AutoModelForCausalLM

    from emergence_law.lab.corpus import TaskSplit
    from emergence_law.lab.finetune import finetune, finetune_subset

    out, _ = tiny_run
    model = AutoModelForCausalLM.from_pretrained(out / "models" / "d16" / "step-000030")
    items = finetune_subset(TaskSplit.make(), 32, 0)
    weights = []
    for state in (1, 2):
        torch.manual_seed(state)
        torch.rand(100)
        tuned = finetune(model, items, method="lora-r4", steps=3, batch_size=4, lr=1e-2, seed=5)
        weights.append({k: v.clone() for k, v in tuned.state_dict().items()})
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    base = model.state_dict()
    assert any(not torch.equal(base[k], weights[0][k]) for k in base)  # it did train
