"""The lab's PassUntil counts, and the choice of the pre-emergence checkpoints to finetune.

Loss, few-shot and finetuning measurements run as sweep recipes (:mod:`emergence_law.lab.recipe`).
PassUntil counts go through :func:`emergence_law.passuntil.sample.passuntil_sample`, streaming
each instance's count into the same results store, so an interrupted run resumes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emergence_law.lab.families import generative_of
from emergence_law.lab.family import LabScale
from emergence_law.lab.train import Checkpoint
from emergence_law.store import ResultStore


@dataclass
class LabContext:
    """What the PassUntil stage of one run shares: settings, the task, the store, the device."""

    scale: LabScale
    store: ResultStore
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.generative = generative_of(self.scale)  # the family's task and checker
        self.gen_task = self.generative.task

    def load(self, ck: Checkpoint) -> tuple[Any, Any]:
        """Model and tokenizer of a checkpoint (through the measuring jobs' model cache)."""
        from emergence_law.measure.jobs import MODEL_CACHE

        lm = MODEL_CACHE.get(str(ck.path), None, device=self.device)
        return lm.model, lm.tokenizer


def passuntil_job(ctx: LabContext, ck: Checkpoint, loss: float) -> list[dict]:
    """PassUntil counts of a checkpoint on the first instances of the generative task.

    Every instance's exact pass rate is computed first (``expected_rate``, by teacher forcing:
    :mod:`emergence_law.lab.expected_rate`); with ``passuntil_budget_from="expected"`` each
    instance samples until r passes within its own budget ``min(cap, ceil(c r / p))``
    (:mod:`emergence_law.passuntil.rate_budget`: censored with probability <= 5% when p is
    exact; cap = ``passuntil_budget``), with ``"fixed"`` within ``passuntil_budget`` (the
    shipped tables' design). Counts stream into the store per instance (``passuntil_sample``
    resumes from them).
    """
    from emergence_law.lab.expected_rate import CENSOR_ALPHA, expected_rates
    from emergence_law.passuntil.rate_budget import budgets_from_rates
    from emergence_law.passuntil.sample import passuntil_sample

    s = ctx.scale
    model, tok = ctx.load(ck)
    prefix = ctx.gen_task.fewshot_prefix()
    examples = ctx.gen_task.examples()[: s.passuntil_instances]
    g = ctx.generative
    instances = [{"id": f"item-{ex.index:04d}", "prompt": prefix + ex.prompt,
                  "checker": (lambda out, want=ex.answer: g.check(out, want))}
                 for ex in examples]
    gen = g.sampler(model, tok, s.seed)
    rates = expected_rates(gen, s.family, [x["prompt"] for x in instances],
                           [ex.answer for ex in examples])
    base = f"lab-passuntil/{ck.model}/step-{ck.step}/r{s.passuntil_r}"
    if s.passuntil_budget_from == "fixed":
        budget, namespace = s.passuntil_budget, f"{base}/b{s.passuntil_budget}"
    else:
        budget = budgets_from_rates(rates, s.passuntil_r, s.passuntil_budget, CENSOR_ALPHA)
        namespace = f"{base}/expected-cap{s.passuntil_budget}"
    counts = passuntil_sample(gen, instances, r=s.passuntil_r, budget=budget,
                              batch_size=min(1024, s.passuntil_budget), store=ctx.store,
                              namespace=namespace, progress=False)
    counts = counts.assign(model=f"lab-{ck.model}", checkpoint=f"step-{ck.step}",
                           params=ck.params, task=ctx.gen_task.name, loss=loss,
                           expected_rate=rates)
    return counts.to_dict("records")


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
