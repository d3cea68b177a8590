"""Build the files of the tiny local example sweep (``recipes/tiny-local.yaml``) on a CPU.

Why: the real recipes need GPUs and hub checkpoints. This trains tiny character-level LMs on
addition facts for a few step budgets (the "checkpoints"), writes an addition task (train and
eval splits disjoint) and a held-out corpus for the loss, all in seconds, so the whole
measure-and-sweep path (loss, few-shot, full and LoRA finetuning, store, export) runs anywhere::

    python -m emergence_law.sweep.tiny_example recipes/tiny-local
    emergence-law sweep run recipes/tiny-local.yaml

Needs the ``measure`` extra (torch, transformers).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

#: the training-step budgets of the example's checkpoints (recipes/tiny-local.yaml lists them)
STEPS = (10, 40, 120)
ALPHABET = "0123456789+=? abcdefghijklmnopqrstuvwxyz"


def build_tiny_example(folder: str | Path, steps: Sequence[int] = STEPS, seed: int = 0,
                       d_model: int = 32) -> Path:
    """Write ``models/step{N}``, ``addition/`` (task) and ``corpus.txt`` under ``folder``."""
    import torch

    from emergence_law.measure.addition_task import make_addition_task
    from emergence_law.tinylm import arithmetic_texts, make_tiny_lm

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    texts = arithmetic_texts(400, seed=seed)
    for n in steps:
        target = out / "models" / f"step{n}"
        if not (target / "config.json").exists():
            make_tiny_lm(target, texts, steps=n, seed=seed, alphabet=ALPHABET, d_model=d_model,
                         batch_size=8, seq_len=32, max_len=128)
    if not (out / "addition" / "task.yaml").exists():
        make_addition_task(out / "addition", n_train=64, n_eval=64, seed=seed + 1, shots=3)
    corpus = out / "corpus.txt"
    if not corpus.exists():
        corpus.write_text("\n".join(arithmetic_texts(200, seed=seed + 2)) + "\n",
                          encoding="utf-8")
    return out


if __name__ == "__main__":  # pragma: no cover - a convenience entry point
    where = build_tiny_example(sys.argv[1] if len(sys.argv) > 1 else "recipes/tiny-local")
    print(f"wrote the tiny example's models, task and corpus under {where}")
