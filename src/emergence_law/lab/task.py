"""The downstream task as data: 3-digit × 1-digit multiplication, few-shot and generative.

Both forms are :class:`emergence_law.measure.tasks.Task` objects, so the project's own evaluator
(:func:`emergence_law.measure.evaluate_fewshot`) scores the lab's checkpoints exactly as it
scores any model, and the tasks can be exported to lm-eval-harness.

The multiple-choice task's ``train`` split is the whole training pool (what finetuning draws
its D examples from; never an evaluated item) and its ``fewshot`` split the 16 solved examples
the prompts show.

Multiple choice: the prompt ``aaa*00b=`` with four choices ``a·b'`` for the true ``b`` and three
other multipliers ``b'`` drawn uniformly from 2..9. The four multipliers form a uniformly random
set with the true one uniformly placed in it, so any scorer that ignores ``b`` is right exactly
1/4 of the time: chance is really 0.25. (Distractors of other operands ``a'`` would let a model
that only estimates magnitude from ``a`` beat chance without multiplying.)
"""

from __future__ import annotations

import numpy as np

from emergence_law.lab.corpus import TaskSplit
from emergence_law.lab.facts import TASK_MC as FACTS_TASK_MC

TASK_MC = "mul-mc"
TASK_GEN = "mul"
N_CHOICES = 4
#: the multiple-choice tasks of the lab's families (:mod:`.families`), arithmetic's first
LAB_TASKS = (TASK_MC, FACTS_TASK_MC)


def lab_task(obs) -> str:
    """The lab's multiple-choice task in an observation table: the one the scale's family
    measured (``mul-mc`` or ``facts-mc``), so the results read either family's tables;
    ``mul-mc`` when the table has neither."""
    present = set(obs["task"]) if "task" in getattr(obs, "columns", ()) else set()
    return next((t for t in LAB_TASKS if t in present), TASK_MC)


def _record(a: int, b: int) -> dict:
    return {"a": f"{a:03d}", "b": f"{b:03d}", "answer_text": f"{a * b:04d}"}


def multiple_choice_task(split: TaskSplit, n_eval: int, shots: int, seed: int = 0):
    """The few-shot multiple-choice task on the first ``n_eval`` held-out items."""
    from emergence_law.measure.tasks import Task

    rng = np.random.default_rng([seed, 2])
    eval_rows = [_mc_record(int(a), int(b), rng) for a, b in split.eval_items[:n_eval]]
    pool_rng = np.random.default_rng([seed, 6])
    pool_rows = [_mc_record(int(a), int(b), pool_rng) for a, b in split.pool_items]
    return Task(
        name=TASK_MC, kind="multiple_choice", template="{a}*{b}=", target_delimiter="",
        fewshot_delimiter=";", shots=shots, fewshot_split="fewshot", train_split="train",
        splits={"eval": eval_rows, "fewshot": _fewshot_rows(split, seed), "train": pool_rows},
        chance=1.0 / N_CHOICES, source="emergence_law.lab",
    )


def _mc_record(a: int, b: int, rng: np.random.Generator) -> dict:
    """One multiple-choice item: the true product among three of other multipliers."""
    others = rng.choice([x for x in range(2, 10) if x != b], N_CHOICES - 1, replace=False)
    mults = np.concatenate([[b], others])
    order = rng.permutation(N_CHOICES)
    rec = _record(a, b)
    rec["choices"] = [f"{a * int(m):04d}" for m in mults[order]]
    rec["answer"] = int(np.flatnonzero(order == 0)[0])
    return rec


def generative_task(split: TaskSplit, n_eval: int, shots: int, seed: int = 0):
    """The same items as a generative task: the 4 answer digits, checked by exact match."""
    from emergence_law.measure.tasks import Task

    rows = [dict(_record(int(a), int(b)), answer=f"{int(a) * int(b):04d}")
            for a, b in split.eval_items[:n_eval]]
    fewshot = [dict(r, answer=r["answer_text"]) for r in _fewshot_rows(split, seed)]
    return Task(
        name=TASK_GEN, kind="generate", template="{a}*{b}=", target_delimiter="",
        fewshot_delimiter=";", shots=shots, fewshot_split="fewshot", until=[";"],
        max_new_tokens=4, splits={"eval": rows, "fewshot": fewshot}, chance=0.0,
        source="emergence_law.lab",
    )


def _fewshot_rows(split: TaskSplit, seed: int, n: int = 16) -> list[dict]:
    """Solved examples from the training pool: the few-shot pool (never evaluated on)."""
    rng = np.random.default_rng([seed, 3])
    pick = rng.choice(len(split.pool_items), n, replace=False)
    return [_mc_record(int(a), int(b), rng) for a, b in split.pool_items[pick]]
