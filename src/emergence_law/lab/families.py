"""What each task family gives the lab's stages: corpus, tokenizer, task file, x-axis, PassUntil.

Why one place: training (:mod:`.train`), the recipes (:mod:`.recipe`), PassUntil
(:mod:`.measure`) and the results are the same code for every family; only these parts differ.
``arithmetic`` is the corpus of :mod:`.corpus` with the ``mul-mc`` task (unchanged by the facts
family: its batches, checkpoints and results are bit-for-bit those of before);
``facts`` is :mod:`.facts_lab`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emergence_law.lab.family import LabScale

#: the checkpoints' longest sequence (both families)
MAX_LEN = 256


@dataclass(frozen=True)
class Corpus:
    """A family's pretraining data: ``sample(n_rows, rng)`` -> (token ids, loss mask)."""

    vocab_size: int
    tokens_per_row: float  # the FLOPs' tokens per row (exact or the mean, see facts_lab)
    sample: Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    tokenizer: Callable[[], Any]


def corpus_of(sc: LabScale) -> Corpus:
    """The pretraining corpus of ``sc``'s family."""
    if sc.family == "facts":
        from emergence_law.lab import facts_lab

        world = facts_lab.world_of(sc.facts)
        return Corpus(len(world.words), facts_lab.tokens_per_row(sc.facts, sc.seed),
                      world.sample_rows, lambda: facts_lab.tokenizer(sc.facts))
    from emergence_law.lab.corpus import VOCAB, VOCAB_SIZE, CorpusConfig, TaskSplit, sample_rows
    from emergence_law.tinylm import build_char_tokenizer

    split = TaskSplit.make(seed=sc.seed)
    cfg = CorpusConfig(mixture=dict(sc.mixture))
    return Corpus(VOCAB_SIZE, float(1 + cfg.eqs_per_row * 13),
                  lambda n, rng: sample_rows(cfg, split, n, rng),
                  lambda: build_char_tokenizer(VOCAB, model_max_length=MAX_LEN))


def task_name(sc: LabScale) -> str:
    """The multiple-choice task the results are about (``mul-mc`` or ``facts-mc``)."""
    if sc.family == "facts":
        from emergence_law.lab.facts import TASK_MC
    else:
        from emergence_law.lab.task import TASK_MC
    return TASK_MC


def task_title(family: str | None) -> str:
    """What the plots call the task."""
    if family == "facts":
        return "extracting stored facts"
    return "3-digit × 1-digit multiplication"


def task_dir(sc: LabScale) -> Path:
    """Where the task file goes under the results folder."""
    return Path("tasks") / task_name(sc)


def write_task(sc: LabScale, out: Path) -> Path:
    """The multiple-choice task file under ``out`` (path relative to ``out`` returned)."""
    out = Path(out)
    if sc.family == "facts":
        from emergence_law.lab import facts_lab

        n_val = sc.early_stopping.n if sc.early_stopping else 0
        path = facts_lab.write_task(sc.facts, sc.n_eval, sc.shots, sc.seed, n_val,
                                    out / task_dir(sc))
        return path.relative_to(out)
    from emergence_law.lab.corpus import TaskSplit
    from emergence_law.lab.task import multiple_choice_task

    task = multiple_choice_task(TaskSplit.make(seed=sc.seed), sc.n_eval, sc.shots, sc.seed)
    return task.save(out / task_dir(sc)).relative_to(out)


def loss_spec(sc: LabScale) -> dict[str, Any]:
    """The recipes' ``loss`` block: the family's x-axis as a python loss callable."""
    if sc.family == "facts":
        from dataclasses import asdict

        from emergence_law.lab.facts_lab import LOSS_CALLABLE

        return {"callable": LOSS_CALLABLE,
                "hparams": {"facts": asdict(sc.facts), "seed": sc.seed, "x": sc.facts_axis}}
    from emergence_law.lab.recipe import LOSS_CALLABLE

    return {"callable": LOSS_CALLABLE,
            "hparams": {"n_val_rows": sc.n_val_rows, "mixture": dict(sc.mixture),
                        "seed": sc.seed}}


@dataclass(frozen=True)
class Generative:
    """PassUntil's task: the generative task, its checker and decoding limits."""

    task: Any
    check: Callable[[str, str], bool]
    max_new_tokens: int
    stop: tuple[str, ...]

    def sampler(self, model: Any, tokenizer: Any, seed: int) -> Any:
        """The sampler PassUntil draws with (temperature 1, this task's decoding limits); the
        exact pass rates (:mod:`emergence_law.lab.expected_rate`) hold for exactly this one."""
        from emergence_law.passuntil.generators import HFGenerator

        return HFGenerator(model, tokenizer, temperature=1.0,
                           max_new_tokens=self.max_new_tokens, stop=self.stop, seed=seed)


def generative_of(sc: LabScale) -> Generative:
    """The family's generative task for PassUntil (the evaluated items, exact match)."""
    if sc.family == "facts":
        from emergence_law.lab import facts_lab

        return Generative(facts_lab.generative_task(sc.facts, sc.n_eval, sc.shots, sc.seed),
                          facts_lab.passes, 2, (".",))
    from emergence_law.lab.corpus import TaskSplit
    from emergence_law.lab.task import generative_task

    task = generative_task(TaskSplit.make(seed=sc.seed), sc.n_eval, sc.shots, sc.seed)
    return Generative(task, lambda out, want: out.strip()[:4] == want, 4, (";",))
