"""Tiny real models and tasks shared by the measure tests (trained once per session, seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

ALPHABET = "0123456789+=\n "


def _parity_task(folder: Path, *, seed: int, n_train: int):
    """'437=' -> '1' (odd) or '0': the last digit decides; 160 distinct numbers, the first
    ``n_train`` the train split, the rest held out in the eval split."""
    import json
    import random

    from emergence_law.measure.tasks import load_task

    nums = random.Random(seed).sample(range(100, 1000), 160)
    rows = [{"prompt": f"{a}=", "choices": ["0", "1"], "answer": a % 2,
             "split": "train" if i < n_train else "eval"} for i, a in enumerate(nums)]
    f = folder / "parity.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows))
    task = load_task(f)
    task.target_delimiter = ""
    return task


@pytest.fixture(scope="session")
def make_parity_task():
    """The parity task builder (``folder, seed=, n_train=``) for the finetuning tests."""
    return _parity_task


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    try:
        import torch
    except ImportError:  # core install: the torch-free tests (lm-eval import, tasks) still run
        return
    # one thread: on a shared, busy CPU two OpenMP threads spin and run ~5x slower
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """A character-level llama trained 150 steps on addition facts, 8 per line-separated text."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from emergence_law.tinylm import arithmetic_texts, make_tiny_lm

    return make_tiny_lm(tmp_path_factory.mktemp("tiny") / "lm",
                        arithmetic_texts(300, seed=0, per_text=8), steps=150, seed=0,
                        alphabet=ALPHABET, seq_len=48, batch_size=12)


@pytest.fixture(scope="session")
def loaded_lm(tiny_lm):
    from emergence_law.measure.models import load_model

    return load_model(tiny_lm)


@pytest.fixture(scope="session")
def addition_task_file(tmp_path_factory) -> Path:
    """A 4-choice addition task, 3-shot, 48 eval problems disjoint from the 96 train ones."""
    from emergence_law.measure.addition_task import make_addition_task

    return make_addition_task(tmp_path_factory.mktemp("task") / "mc", n_train=96, n_eval=48,
                              seed=1, shots=3)


@pytest.fixture(scope="session")
def addition_gen_file(tmp_path_factory) -> Path:
    from emergence_law.measure.addition_task import make_addition_task

    return make_addition_task(tmp_path_factory.mktemp("task") / "gen", n_train=16, n_eval=16,
                              seed=2, shots=3, kind="generate")
