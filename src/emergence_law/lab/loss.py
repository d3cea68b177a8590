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


def loss_job(definition: dict[str, Any], device: str = "cpu") -> list[dict[str, Any]]:
    """The lab's loss as a sweep job (``loss: {callable: emergence_law.lab.loss:loss_job}``).

    ``hparams`` names the validation rows (``n_val_rows``, ``mixture``, ``seed``); the model is
    loaded through the measuring jobs' cache, so the few-shot job of the same checkpoint that
    runs next in this process reuses it.
    """
    from emergence_law.errors import OptionError
    from emergence_law.measure.jobs import MODEL_CACHE

    hp = dict(definition.get("hparams") or {})
    unknown = set(hp) - {"n_val_rows", "mixture", "seed"}
    if unknown:
        raise OptionError("loss.hparams", f"unknown lab loss setting(s) "
                          f"{', '.join(sorted(unknown))} (known: mixture, n_val_rows, seed)")
    if not isinstance(hp.get("mixture"), dict):
        raise OptionError("loss.hparams", "the lab loss needs 'mixture' (operation -> share)")
    val = ValidationSet.make(int(hp.get("n_val_rows", 256)), dict(hp["mixture"]),
                             int(hp.get("seed", 0)))
    lm = MODEL_CACHE.get(str(definition["model"]), None, device=device)
    return [{"kind": "loss", "model": definition["model"],
             "checkpoint": definition.get("checkpoint"), "loss": answer_loss(lm.model, val),
             "n_rows": len(val.ids), "loss_source": "answer digits of held-out rows"}]


__all__ = ["OPS", "ValidationSet", "answer_loss", "loss_job"]
