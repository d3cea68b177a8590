"""The lab's pretraining loss: mean NLL of the answer digits on held-out pretraining rows.

Why not the loss on every token: the operands are uniformly random, so their loss is an
irreducible floor (~2.3 nats/token) that the models reach within a few dozen steps; measured on
the full mixture the loss then stops resolving checkpoints while skills still change
(LAB-NOTES). The answer digits are a deterministic function of the operands, so their loss
falls for as long as the models keep learning, like the reducible part of an LLM's loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emergence_law.lab.corpus import OPS, CorpusConfig, TaskSplit, sample_rows


@dataclass(frozen=True)
class ValidationSet:
    """Fixed held-out pretraining rows (their own seed, never a training batch)."""

    ids: np.ndarray
    mask: np.ndarray

    @classmethod
    def make(cls, n_rows: int, mixture: dict[str, float], seed: int = 0) -> ValidationSet:
        corpus = CorpusConfig(mixture=dict(mixture))
        ids, mask = sample_rows(corpus, TaskSplit.make(seed=seed), n_rows,
                                np.random.default_rng([seed, 9]))
        return cls(ids, mask)


def answer_loss(model: Any, val: ValidationSet, *, batch_size: int = 128) -> float:
    """Mean negative log-likelihood (nats) of the answer tokens of ``val`` under ``model``."""
    import torch

    device = next(model.parameters()).device
    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(val.ids), batch_size):
            ids = torch.from_numpy(val.ids[i:i + batch_size]).to(device)
            mask = torch.from_numpy(val.mask[i:i + batch_size]).to(device)
            logp = model(input_ids=ids).logits[:, :-1].float().log_softmax(-1)
            nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
            m = mask[:, 1:]
            total += float(nll[m].sum())
            count += int(m.sum())
    return total / max(1, count)


__all__ = ["OPS", "ValidationSet", "answer_loss"]
