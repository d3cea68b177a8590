"""Measurement jobs of the lab: every number is a job in the project's results store.

Each job is a definition (a dict) whose hash is its id in :class:`~emergence_law.store.ResultStore`;
its observation rows are written atomically with its completion, so an interrupted lab run
resumes where it stopped and never measures anything twice. Few-shot and finetuned accuracy go
through the project's own evaluator (:func:`emergence_law.measure.fewshot.evaluate_fewshot`),
PassUntil counts through :func:`emergence_law.passuntil.sample.passuntil_sample`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emergence_law.lab.corpus import TaskSplit
from emergence_law.lab.family import LabScale
from emergence_law.lab.finetune import finetune, finetune_subset
from emergence_law.lab.loss import ValidationSet, answer_loss
from emergence_law.lab.task import TASK_GEN, generative_task, multiple_choice_task
from emergence_law.lab.train import Checkpoint
from emergence_law.store import ResultStore, job_id

#: metrics kept in the observation table (one metric keeps `fit TABLE --task mul-mc` unambiguous)
KEPT_METRICS = ("acc",)


@dataclass
class LabContext:
    """What every measuring job of one run shares: settings, task data, store, device."""

    scale: LabScale
    root: Path
    store: ResultStore
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.split = TaskSplit.make(seed=self.scale.seed)
        self.task = multiple_choice_task(self.split, self.scale.n_eval, self.scale.shots,
                                         self.scale.seed)
        self.gen_task = generative_task(self.split, self.scale.n_eval, self.scale.shots,
                                        self.scale.seed)
        self.val = ValidationSet.make(self.scale.n_val_rows, self.scale.mixture,
                                      self.scale.seed)
        self._loaded: tuple[Path, Any, Any] | None = None

    @property
    def series(self) -> str:
        return f"lab-{self.scale.name}"

    def load(self, ck: Checkpoint) -> tuple[Any, Any]:
        """Model and tokenizer of a checkpoint (the last one is kept: jobs come grouped)."""
        if self._loaded is None or self._loaded[0] != ck.path:
            from transformers.utils import logging as hf_logging

            from emergence_law.measure.models import load_model

            hf_logging.disable_progress_bar()  # the lab's own rich bars report progress

            loaded = load_model(str(ck.path), device=self.device)
            self._loaded = (ck.path, loaded.model, loaded.tokenizer)
        return self._loaded[1], self._loaded[2]

    def identity(self, ck: Checkpoint, loss: float) -> dict[str, Any]:
        return {"series": self.series, "model": f"lab-{ck.model}", "checkpoint": f"step-{ck.step}",
                "params": ck.params, "tokens": ck.tokens, "flops": ck.flops, "loss": loss}

    def run_job(self, definition: dict[str, Any], work: Callable[[], list[dict]]) -> bool:
        """Run ``work`` unless the job is done; store its rows atomically. True if it ran."""
        if self.store.is_done(job_id(definition)):
            return False
        t0 = time.perf_counter()
        rows = work()
        self.store.record_result(definition, rows, seconds=time.perf_counter() - t0)
        return True


def _base(ctx: LabContext, ck: Checkpoint) -> dict[str, Any]:
    return {"scale": ctx.scale.name, "seed": ctx.scale.seed, "model": ck.model, "step": ck.step}


def loss_of(ctx: LabContext, ck: Checkpoint) -> float:
    """Pretraining loss of a checkpoint (its own job, so later jobs reuse the number)."""
    definition = {"kind": "lab-loss", **_base(ctx, ck), "n_val_rows": ctx.scale.n_val_rows}
    key = job_id(definition)
    cached = ctx.store.get_records("lab-loss").get(key)
    if cached is not None:
        return float(cached)
    model, _ = ctx.load(ck)
    value = answer_loss(model, ctx.val)
    ctx.store.put_records("lab-loss", {key: value})
    return value


def fewshot_job(ctx: LabContext, ck: Checkpoint) -> bool:
    """Few-shot accuracy of a checkpoint on the held-out items."""
    from emergence_law.measure.fewshot import evaluate_fewshot

    definition = fewshot_definition(ctx, ck)

    def work() -> list[dict]:
        loss = loss_of(ctx, ck)
        model, tok = ctx.load(ck)
        res = evaluate_fewshot(model, tok, ctx.task, batch_size=256)
        rows = res.to_rows(**ctx.identity(ck, loss))
        return [r for r in rows if r["metric"] in KEPT_METRICS]

    return ctx.run_job(definition, work)


def fewshot_definition(ctx: LabContext, ck: Checkpoint) -> dict[str, Any]:
    """The job definition (its hash is the job id) of a checkpoint's few-shot measurement."""
    return {"kind": "lab-fewshot", **_base(ctx, ck), "task": ctx.task.name,
            "shots": ctx.scale.shots, "n_eval": ctx.scale.n_eval}


def finetune_definition(ctx: LabContext, ck: Checkpoint, n_train: int, subset: int,
                        method: str) -> dict[str, Any]:
    """The job definition of one finetuning run (every setting that changes its result)."""
    s = ctx.scale
    lr = s.finetune_lr if method == "full" else s.lora_lr
    return {"kind": "lab-finetune", **_base(ctx, ck), "task": ctx.task.name,
            "n_train": n_train, "subset": subset, "method": method,
            "steps": s.finetune_steps, "batch": s.finetune_batch, "lr": lr,
            "shots": s.shots, "n_eval": s.n_eval, "init_seeded": True}


def finetune_job(ctx: LabContext, ck: Checkpoint, n_train: int, subset: int,
                 method: str) -> bool:
    """Finetune a checkpoint on ``n_train`` pool items (subset ``subset``), then evaluate."""
    from emergence_law.measure.fewshot import evaluate_fewshot

    s = ctx.scale
    lr = s.finetune_lr if method == "full" else s.lora_lr
    definition = finetune_definition(ctx, ck, n_train, subset, method)

    def work() -> list[dict]:
        loss = loss_of(ctx, ck)
        model, tok = ctx.load(ck)
        items = finetune_subset(ctx.split, n_train, subset, s.seed)
        tuned = finetune(model, items, method=method, steps=s.finetune_steps,
                         batch_size=s.finetune_batch, lr=lr, seed=s.seed + 7919 * subset)
        res = evaluate_fewshot(tuned, tok, ctx.task, batch_size=256)
        rows = []
        for r in res.to_rows(**ctx.identity(ck, loss)):
            if r["metric"] in KEPT_METRICS:
                r.update(setting="finetune", n_train=n_train, subset=subset, method=method)
                rows.append(r)
        return rows

    return ctx.run_job(definition, work)


def passuntil_job(ctx: LabContext, ck: Checkpoint) -> list[dict]:
    """PassUntil counts of a checkpoint on the first instances of the generative task.

    Counts stream into the store per instance (``passuntil_sample`` resumes from them).
    """
    from emergence_law.passuntil.generators import HFGenerator
    from emergence_law.passuntil.sample import passuntil_sample

    s = ctx.scale
    model, tok = ctx.load(ck)
    prefix = ctx.gen_task.fewshot_prefix()
    examples = ctx.gen_task.examples()[: s.passuntil_instances]
    instances = [{"id": f"item-{ex.index:04d}", "prompt": prefix + ex.prompt,
                  "checker": (lambda out, want=ex.answer: out.strip()[:4] == want)}
                 for ex in examples]
    gen = HFGenerator(model, tok, temperature=1.0, max_new_tokens=4, stop=(";",),
                      seed=s.seed)
    namespace = f"lab-passuntil/{ck.model}/step-{ck.step}/r{s.passuntil_r}/b{s.passuntil_budget}"
    counts = passuntil_sample(gen, instances, r=s.passuntil_r, budget=s.passuntil_budget,
                              batch_size=min(1024, s.passuntil_budget), store=ctx.store,
                              namespace=namespace, progress=False)
    counts = counts.assign(model=f"lab-{ck.model}", checkpoint=f"step-{ck.step}",
                           params=ck.params, task=TASK_GEN, loss=loss_of(ctx, ck))
    return counts.to_dict("records")


def lab_rows(store: ResultStore, kinds: tuple[str, ...] = ("lab-fewshot", "lab-finetune"),
             definitions: list[dict[str, Any]] | None = None) -> list[dict]:
    """Observation rows (metrics in KEPT_METRICS) of the lab's done jobs of the given kinds,
    or of exactly the jobs ``definitions`` (a store reused across designs holds others)."""
    ids = None if definitions is None else [job_id(d) for d in definitions]
    return [row for _, d, row in store.job_rows(ids)
            if d.get("kind") in kinds and row.get("metric") in KEPT_METRICS]


def pick_preemergence(losses: dict[Checkpoint, float], elbow: float, n: int,
                      span: float | None = None) -> list[Checkpoint]:
    """``n`` checkpoints with loss above the ground-truth elbow (and at most ``span`` nats above
    it), spread evenly in loss.

    The lowest-loss one is always kept: it is nearest the elbow. ``span`` keeps the finetuning
    budget off the first warm-up checkpoints, which stay at chance after any finetuning and so
    cannot locate a finetuned elbow (measured: docs/lab.md).
    """
    pre = sorted((ck for ck, lo in losses.items()
                  if lo > elbow and (span is None or not elbow > float("-inf")
                                     or lo <= elbow + span)),
                 key=lambda ck: losses[ck])
    if len(pre) <= n:
        return pre
    targets = np.linspace(losses[pre[0]], losses[pre[-1]], n)
    chosen: list[Checkpoint] = []
    for t in targets:
        best = min((ck for ck in pre if ck not in chosen), key=lambda ck: abs(losses[ck] - t))
        chosen.append(best)
    return sorted(chosen, key=lambda ck: losses[ck])
