"""Finetuning a checkpoint on D task examples (full or LoRA), the way the method needs it.

The paper finetunes on random subsets of a task's training data at several sizes D, with two or
more random subsets per size. Here a subset is D multiplication items drawn (by the subset seed)
from the training pool, which excludes every evaluated item, so the finetuned accuracy on the
evaluation items measures the skill, not memory. Every run takes the same number of optimiser
steps, so runs differ in how much *distinct* data they saw, not in compute.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np

from emergence_law.errors import OptionError
from emergence_law.lab.corpus import BOS_ID, EQ_LEN, OPS, TaskSplit, equations_to_ids

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def finetune_subset(split: TaskSplit, n_train: int, subset: int, seed: int = 0) -> np.ndarray:
    """The ``subset``-th random draw of ``n_train`` items from the training pool."""
    if n_train > len(split.pool_items):
        raise OptionError("n_train", f"{n_train} exceeds the {len(split.pool_items)} pool items")
    rng = np.random.default_rng([seed, 4, n_train, subset])
    return split.pool_items[rng.choice(len(split.pool_items), n_train, replace=False)]


def lora_rank(method: str) -> int | None:
    """``'full'`` -> None, ``'lora-r4'`` -> 4; anything else is an option error."""
    if method == "full":
        return None
    if method.startswith("lora-r") and method[6:].isdigit():
        return int(method[6:])
    raise OptionError("method", f"unknown finetuning method {method!r} (use full or lora-rN)")


def finetune(
    model: Any,
    items: np.ndarray,
    *,
    method: str = "full",
    steps: int = 60,
    batch_size: int = 16,
    lr: float = 1e-3,
    eqs_per_row: int = 6,
    seed: int = 0,
) -> Any:
    """A finetuned copy of ``model`` (the original is left untouched), merged if LoRA.

    Rows are ``eqs_per_row`` equations drawn with replacement from ``items``, in the pretraining
    format, with loss on the answer digits only.
    """

    rank = lora_rank(method)
    with warnings.catch_warnings():  # transformers' deprecation notes on deepcopy/peft wrapping
        warnings.simplefilter("ignore", FutureWarning)
        return _finetune(model, items, rank, steps, batch_size, lr, eqs_per_row, seed)


def _finetune(model: Any, items: np.ndarray, rank: int | None, steps: int, batch_size: int,
              lr: float, eqs_per_row: int, seed: int) -> Any:
    import torch

    model = copy.deepcopy(model)
    torch.manual_seed(seed)  # LoRA's adapter init draws from torch's global generator
    if rank is not None:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                                 target_modules=LORA_TARGETS))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    device = next(model.parameters()).device
    rng = np.random.default_rng([seed, 5])
    mul = OPS.index("mul")
    mask_row = np.zeros((eqs_per_row, EQ_LEN), dtype=bool)
    mask_row[:, 8:12] = True
    mask = np.concatenate([[False], mask_row.ravel()])
    mask_t = torch.from_numpy(np.broadcast_to(mask, (batch_size, len(mask))).copy()).to(device)
    model.train()
    for _ in range(steps):
        pick = items[rng.integers(0, len(items), batch_size * eqs_per_row)]
        eq = equations_to_ids(np.full(len(pick), mul), pick[:, 0], pick[:, 1])
        ids = np.concatenate([np.full((batch_size, 1), BOS_ID), eq.reshape(batch_size, -1)], 1)
        ids_t = torch.from_numpy(ids).to(device)
        loss = model(input_ids=ids_t, labels=torch.where(mask_t, ids_t, -100)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    if rank is not None:
        model = model.merge_and_unload()
    return model
