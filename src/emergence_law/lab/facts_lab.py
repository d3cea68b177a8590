"""The knowledge-extraction family (:mod:`emergence_law.lab.facts`) as ``lab run`` measures it.

What ``lab run --scale facts-*`` needs beyond the world itself, each reused from the probes
(:mod:`.facts_probe`, :mod:`.facts_finetune`) rather than re-implemented, so the lab measures
exactly what docs/lab.md's probes measured:

- the pretraining rows (``FactWorld.sample_rows``, loss on every token) and the word tokenizer
  saved with every checkpoint;
- the x-axis, as a sweep loss callable (:func:`loss_job`), the scale's ``facts_axis``: ``val``,
  the held-out pretraining loss (every token of 512 corpus rows training never draws,
  ``facts_probe.heldout_rows`` scored by ``facts_probe.corpus_loss``), or ``tru``, the mean NLL
  of the value token of 2,000 training-template statements of uniformly drawn entities
  (``facts_probe.x_axis_sets(world)["tru"]``, scored by ``facts_probe.answer_loss``). ``val``
  locates the 3-shot emergence of pretraining runs of other seeds and sizes within 0.07 nats,
  ``tru`` does not (0.6-0.9 nats apart; docs/lab.md);
- the task file ``facts-mc``: evaluation facts only in ``eval``; the *all-codes* pool
  (``facts_finetune.pool_questions(..., pool="all-codes")``: every pool fact asked with every
  code word) as ``train``; the pool facts held out for early stopping (in every form) as the
  split ``early_stopping``; 16 pool questions as ``fewshot``;
- the generative ``facts`` task for PassUntil (exact match of the value token).

docs/lab-facts.md gives every setting and its reason.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from emergence_law.lab.facts import (
    END,
    TASK_GEN,
    TASK_MC,
    FactsConfig,
    FactWorld,
    build_word_tokenizer,
    multiple_choice_task,
)

#: the task split holding the early-stopping questions (never in ``train``)
EARLY_STOPPING_SPLIT = "early_stopping"
LOSS_CALLABLE = "emergence_law.lab.facts_lab:loss_job"
#: each x-axis's ``loss_source``, as the rows say it
LOSS_SOURCE = {
    "tru": ("tru: value token of 2,000 training-template statements of uniformly drawn "
            "entities (facts_probe.x_axis_sets)"),
    "val": ("val: every token of 512 held-out pretraining rows (facts_probe.heldout_rows)"),
}


@lru_cache(maxsize=4)
def world_of(cfg: FactsConfig) -> FactWorld:
    """The world of ``cfg`` (built once per process: facts, split, vocabulary)."""
    return FactWorld(cfg)


def tokenizer(cfg: FactsConfig) -> Any:
    """The word-level tokenizer saved with every facts checkpoint."""
    from emergence_law.lab.families import MAX_LEN  # a row of 16 statements is ~110 tokens

    return build_word_tokenizer(world_of(cfg), model_max_length=MAX_LEN)


@lru_cache(maxsize=4)
def tokens_per_row(cfg: FactsConfig, seed: int = 0) -> float:
    """Mean real tokens of a pretraining row (BOS included), over 256 rows of a fixed draw.

    Rows differ in length (templates have 1-4 words), but the lab's FLOPs need tokens linear in
    the step (``6 N T``, T = step x batch x this), so the mean stands for every row."""
    ids, mask = world_of(cfg).sample_rows(256, np.random.default_rng([seed, 5]))
    return float(mask.sum() / len(ids))


@lru_cache(maxsize=4)
def xaxis_statements(cfg: FactsConfig, seed: int = 0) -> list[list[int]]:
    """The ``tru`` statements (token ids), exactly as the probes measure them."""
    from emergence_law.lab.facts_probe import x_axis_sets

    return x_axis_sets(world_of(cfg), seed)["tru"]


@lru_cache(maxsize=4)
def heldout_rows(cfg: FactsConfig, seed: int = 0) -> np.ndarray:
    """The ``val`` rows (token ids), exactly as the probes measure them."""
    from emergence_law.lab.facts_probe import heldout_rows

    return heldout_rows(world_of(cfg), seed)


def loss_job(definition: dict[str, Any], device: str = "cpu") -> list[dict[str, Any]]:
    """The facts lab's x-axis as a sweep job (``loss: {callable:
    emergence_law.lab.facts_lab:loss_job}``); ``hparams``: ``facts`` (the FactsConfig as a
    mapping), ``seed`` and ``x`` (``val`` or ``tru``; recipes written before ``x`` existed
    measured ``tru``, so that stays the value when it is absent)."""
    from emergence_law.errors import OptionError
    from emergence_law.lab.facts_probe import answer_loss, corpus_loss
    from emergence_law.lab.family import FACTS_AXES, one_of
    from emergence_law.measure.jobs import MODEL_CACHE

    hp = dict(definition.get("hparams") or {})
    unknown = set(hp) - {"facts", "seed", "x"}
    if unknown:
        raise OptionError("loss.hparams", f"unknown facts loss setting(s) "
                          f"{', '.join(sorted(unknown))} (known: facts, seed, x)")
    axis = hp.get("x", "tru")
    one_of("loss.hparams.x", axis, FACTS_AXES, "facts x-axis", OptionError)
    if not isinstance(hp.get("facts"), dict):
        raise OptionError("loss.hparams", "the facts loss needs 'facts' (the world's settings)")
    try:
        cfg = FactsConfig(**hp["facts"])
    except TypeError as exc:
        raise OptionError("loss.hparams", f"facts: {exc}") from None
    seed = int(hp.get("seed", 0))
    lm = MODEL_CACHE.get(str(definition["model"]), None, device=device)
    if axis == "val":
        rows = heldout_rows(cfg, seed)
        loss, n_rows = corpus_loss(lm.model, rows), len(rows)
    else:
        statements = xaxis_statements(cfg, seed)
        loss, n_rows = answer_loss(lm.model, statements), len(statements)
    return [{"kind": "loss", "model": definition["model"],
             "checkpoint": definition.get("checkpoint"), "loss": loss, "n_rows": n_rows,
             "loss_source": LOSS_SOURCE[axis]}]


def _mc_row(world: FactWorld, e: int, k: int, t: int, rng: np.random.Generator) -> dict:
    """A pool question as a multiple-choice row (the fields the task file needs, no more)."""
    item = world.mc_item(e, k, rng, t)
    return {key: item[key] for key in ("prompt", "choices", "answer")}


def pool_rows(world: FactWorld, n_val: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(``train``, ``early_stopping``) rows: the all-codes pool and its held-out facts."""
    from emergence_law.lab.facts_finetune import pool_questions

    train, held = pool_questions(world, seed, pool="all-codes", n_val=n_val)
    rng = np.random.default_rng([seed, 61])
    return ([_mc_row(world, *q, rng) for q in train], [_mc_row(world, *q, rng) for q in held])


def write_task(cfg: FactsConfig, n_eval: int, shots: int, seed: int, n_val: int,
               out_dir: Path) -> Path:
    """The ``facts-mc`` task file (``task.yaml`` and one JSONL per split) under ``out_dir``."""
    world = world_of(cfg)
    task = multiple_choice_task(world, n_eval, shots, seed)
    train, held = pool_rows(world, n_val, seed)
    task.splits["train"] = train
    if held:
        task.splits[EARLY_STOPPING_SPLIT] = held
    return task.save(out_dir)


def generative_task(cfg: FactsConfig, n_eval: int, shots: int, seed: int = 0) -> Any:
    """The same evaluation questions as a generative task: the value token, exact match."""
    from emergence_law.measure.tasks import Task

    world = world_of(cfg)
    rows = [{"prompt": r["prompt"], "answer": r["answer_text"]}
            for r in world.eval_items(seed)[:n_eval]]
    fewshot = [{"prompt": r["prompt"], "answer": r["answer_text"]}
               for r in world.fewshot_items(seed)]
    return Task(name=TASK_GEN, kind="generate", template="{prompt}", target_delimiter=" ",
                fewshot_delimiter=f" {END} ", shots=shots, fewshot_split="fewshot",
                until=[END], max_new_tokens=2, splits={"eval": rows, "fewshot": fewshot},
                chance=0.0, source="emergence_law.lab.facts_lab")


def passes(output: str, want: str) -> bool:
    """PassUntil's checker: the first generated word is the value."""
    return output.split()[:1] == [want]


__all__ = ["EARLY_STOPPING_SPLIT", "LOSS_CALLABLE", "TASK_GEN", "TASK_MC", "generative_task",
           "loss_job", "passes", "pool_rows", "tokenizer", "tokens_per_row", "world_of",
           "write_task", "xaxis_statements"]
