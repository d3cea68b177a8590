"""Finetuning a facts-probe checkpoint on pool questions (:mod:`emergence_law.lab.facts_probe`).

Why a module of its own: the pool (which questions D draws from, which are kept for early
stopping) and the finetuning recipe (full or LoRA, fixed or D-scaled budget, early stopping)
are what the probes vary; they must never touch an evaluation entity, which
``tests/lab/test_facts.py`` checks for every pool kind.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from emergence_law.lab.facts import ATTR_NAMES, BOS_ID, FactWorld
from emergence_law.lab.facts_probe import answer_loss, fewshot_accuracy, new_model, probe_items

#: questions per finetuning step (16 sequences of 8 QA lines)
FT_BATCH = 16 * 8


def finetune_steps(n_train: int, steps: int, epochs: float | None) -> int:
    """Fixed ``steps``, or (``epochs`` given) ``epochs`` passes over the D examples, at least
    ``steps``: the budget scaled with D, so a large D is not underfitted by a fixed budget."""
    if epochs is None:
        return steps
    return max(steps, math.ceil(epochs * n_train / FT_BATCH))


#: how the finetuning pool asks about a pool fact: one fixed code word per fact, or every code
#: word (coded extraction: 16 code words make 16 distinct questions per fact, so D can go far
#: beyond the number of facts while no evaluated fact is asked)
POOLS = ("one-code", "all-codes")


def pool_questions(world: FactWorld, subset_seed: int = 0, pool: str = "one-code",
                   n_val: int = 200) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """The finetuning questions as (entity, attribute, code word) in the fixed shuffle of
    ``subset_seed`` (D = the first D), and ``n_val`` early-stopping questions.

    ``one-code``: every pool fact once, with one fixed code word (always 0 for direct
    questions), so D questions show at most D of the code words; the early-stopping questions
    are the last ``n_val`` of the shuffle (at most a quarter of the facts, for tiny worlds). ``all-codes``: the last ``n_val`` facts of the shuffle
    are held out (one code word each) and every other fact is asked with every code word, so
    no early-stopping fact is trained on in any form."""
    facts = [(int(e), k) for e in world.pool_entities for k in range(len(ATTR_NAMES))]
    n_val = min(n_val, len(facts) // 4)
    order = np.random.default_rng([subset_seed, 6]).permutation(len(facts))
    codes = np.random.default_rng([subset_seed, 11]).integers(world.n_question_templates,
                                                             size=len(facts))
    if pool == "one-code":
        qs = [(*facts[i], int(codes[i])) for i in order]
        return qs[:len(qs) - n_val], qs[len(qs) - n_val:]
    if pool != "all-codes":
        from emergence_law.errors import OptionError

        raise OptionError("--pool", f"unknown pool {pool!r} (use {' or '.join(POOLS)})")
    held = order[len(order) - n_val:]
    train = [(*facts[i], t) for i in order[:len(order) - n_val]
             for t in range(world.n_question_templates)]
    perm = np.random.default_rng([subset_seed, 12]).permutation(len(train))
    return [train[i] for i in perm], [(*facts[i], int(codes[i])) for i in held]


def finetune(world: FactWorld, d: int, state: dict | None, n_train: int, *, steps: int = 100,
             lr: float = 1e-3, seed: int = 0, subset_seed: int = 0, method: str = "full",
             lora_rank: int = 4, epochs: float | None = None, check_every: int | None = None,
             n_val: int = 200, patience: int = 5, pool: str = "one-code",
             keep_start: bool = False) -> dict[str, Any]:
    """Finetune a checkpoint (``state``; None = never pretrained) on the first ``n_train``
    pool questions of a fixed shuffle: batches of 16 sequences of 8 questions, loss on the
    answer token only; then the 3-shot accuracy.

    ``method``: ``full`` or ``lora`` (peft, rank ``lora_rank`` on every linear layer; the
    embeddings stay frozen, so less of a barely stored fact is overwritten). Steps: see
    :func:`finetune_steps`. ``check_every``: early stopping, every that many steps the 0-shot
    answer loss of ``n_val`` held-out pool questions (the last ones of the shuffle, never in a
    D subset) is measured and the best state is the one evaluated; stop after ``patience``
    checks without improvement. ``keep_start``: the starting state (0 steps) is a candidate
    too, so where finetuning never lowers the held-out loss the checkpoint is evaluated as it
    was, instead of after the least harmful number of steps."""
    import torch

    t0 = time.time()
    model = new_model(world, d, seed)
    if state is not None:
        model.load_state_dict(state)
    if method == "lora":
        import warnings

        from peft import LoraConfig, get_peft_model

        torch.manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = get_peft_model(model, LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank,
                                                     lora_dropout=0.0,
                                                     target_modules="all-linear",
                                                     task_type="CAUSAL_LM"))
    elif method != "full":
        from emergence_law.errors import OptionError

        raise OptionError("--method", f"unknown method {method!r} (use full or lora)")
    facts, held = pool_questions(world, subset_seed, pool, n_val)
    if n_train > len(facts):
        from emergence_law.errors import OptionError

        raise OptionError("--D", f"{n_train} is more than the {len(facts)} pool questions "
                          f"(--pool {pool}) beside the {n_val} kept to check early stopping")
    subset = facts[:n_train]
    val = [world.encode(world.qa(*q)) for q in held]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng([subset_seed, 7, n_train])
    n_steps = finetune_steps(n_train, steps, epochs)
    def snapshot() -> dict[str, Any]:
        return {k: t.detach().clone() for k, t in model.state_dict().items()}

    best = (math.inf, None, 0)  # (val loss, state, step)
    if check_every and keep_start:
        best = (answer_loss(model, val), snapshot(), 0)
    bad = 0
    loss = torch.tensor(float("nan"))
    done = 0
    model.train()
    for step in range(1, n_steps + 1):
        rows = []
        for _ in range(16):
            toks, labels = [BOS_ID], [-100]
            for i in rng.integers(0, n_train, 8):
                q = world.encode(world.qa(*subset[i]))
                toks += q
                labels += [-100] * (len(q) - 2) + [q[-2], -100]
            rows.append((toks, labels))
        width = max(len(t) for t, _ in rows)
        x = torch.zeros(len(rows), width, dtype=torch.long)
        y = torch.full((len(rows), width), -100)
        for j, (t, lab) in enumerate(rows):
            x[j, :len(t)] = torch.tensor(t)
            y[j, :len(lab)] = torch.tensor(lab)
        loss = model(input_ids=x, labels=y).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        done = step
        if check_every and (step % check_every == 0 or step == n_steps):
            v = answer_loss(model, val)
            model.train()
            if v < best[0]:
                best = (v, snapshot(), step)
                bad = 0
            else:
                bad += 1
                if bad >= patience:
                    break
    out: dict[str, Any] = {"finetune_loss": float(loss.detach()), "steps_run": done}
    if check_every:
        model.load_state_dict(best[1])
        out |= {"best_step": best[2], "val_loss": best[0]}
    out["acc"] = fewshot_accuracy(model, probe_items(world, seed))
    out["seconds"] = round(time.time() - t0, 1)
    return out
