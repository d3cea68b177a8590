"""The PassUntil sampling engine: sample each instance until its r-th pass or the budget.

Exact stopping when a batch overshoots: a batch's samples are independent draws, checked and
counted *in draw order*; the instance stops at the sample that brings the r-th pass and every
later sample of that batch is discarded, unseen by the counts. The recorded (K, R) is therefore
exactly what one-at-a-time sampling would have recorded, and the negative-binomial (inverse
sampling) law of K holds. Batches never cross the budget (the last one is shortened).

Resumable: after every batch the instance's running counts are upserted into the SQLite
:class:`~emergence_law.store.ResultStore` under ``namespace`` (one transaction), so an
interruption loses at most the batch in flight; a rerun continues each instance from its stored
counts (continuing is exact because samples are independent of the past). A seeded generator
would replay, after a restart, the very samples it drew before the interruption; so when stored
counts exist the engine calls the generator's ``reseed(int)`` (if it has one) with a seed that
depends on how many samples had been drawn. Dropping the batch in
flight cannot bias anything: whether it is lost depends on when the interruption came, not on
its outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.errors import SettingError
from emergence_law.passuntil.checkers import Checker, check_batch
from emergence_law.passuntil.generators import as_generator


@dataclass
class Instance:
    """One test instance: an id, its prompt, and (optionally) its own checker."""

    id: str
    prompt: str
    checker: Checker | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Counts:
    """Running PassUntil counts of one instance (what the store keeps)."""

    trials: int = 0
    passes: int = 0
    done: bool = False
    censored: bool = False
    checker_errors: int = 0
    first_error: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {"trials": self.trials, "passes": self.passes, "done": self.done,
                "censored": self.censored, "checker_errors": self.checker_errors,
                "first_error": self.first_error}

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Counts:
        return cls(int(rec["trials"]), int(rec["passes"]), bool(rec["done"]),
                   bool(rec.get("censored", False)), int(rec.get("checker_errors", 0)),
                   rec.get("first_error"))


def _as_instances(instances: Iterable[Any]) -> list[Instance]:
    out = []
    for i, x in enumerate(instances):
        if isinstance(x, Instance):
            out.append(x)
        elif isinstance(x, Mapping):
            out.append(Instance(str(x.get("id", i)), str(x["prompt"]), x.get("checker")))
        elif isinstance(x, str):
            out.append(Instance(str(i), x))
        else:
            raise SettingError("instances", f"cannot use {type(x).__name__} as an instance")
    ids = [x.id for x in out]
    if len(set(ids)) != len(ids):
        raise SettingError("instances", "instance ids must be unique")
    return out


def advance(counts: Counts, passed: Sequence[bool], r: int, budget: int) -> int:
    """Count a batch's results in draw order, stopping exactly at the r-th pass or the budget.

    Returns how many of the batch's samples were used (the rest are discarded).
    """
    used = 0
    for ok in passed:
        if counts.done:
            break
        used += 1
        counts.trials += 1
        if ok:
            counts.passes += 1
        if counts.passes >= r:
            counts.done = True
        elif counts.trials >= budget:
            counts.done, counts.censored = True, True
    return used


def next_batch_size(counts: Counts, r: int, budget: int, batch_size: int,
                    min_batch: int | None = None) -> int:
    """How many samples to draw next for an instance.

    Fixed (``min_batch=None``): ``batch_size``. Adaptive: about 1.5x the samples the remaining
    passes are expected to need, ``1.5 (r - R) / p~`` with ``p~ = (R + 1)/(K + 2)``, between
    ``min_batch`` and ``batch_size``. A hard instance reaches full batches after a few doublings;
    an easy one stops wasting samples beyond its r-th pass. Exactness is unaffected: the size
    depends only on outcomes already counted, and the stop is still at the r-th pass in draw
    order.
    """
    left = budget - counts.trials
    if min_batch is None:
        return min(batch_size, left)
    p_guess = (counts.passes + 1) / (counts.trials + 2)
    want = int(np.ceil(1.5 * (r - counts.passes) / p_guess))
    return max(1, min(left, batch_size, max(min_batch, want)))


def _start(generator: Any, instances: Iterable[Any],
           checker: Callable[[Instance, str], bool] | None, store: Any, namespace: str,
           stream: tuple[int, ...]) -> tuple[Any, list[Instance], dict[str, Counts]]:
    """The generator, the instances and their counts so far (resumed from ``store``).

    On a resume a seeded generator would replay the samples drawn before the interruption, so
    it continues from a stream that depends on how far the run had got (``stream`` keeps the
    sampling modes' streams apart).
    """
    gen = as_generator(generator)
    items = _as_instances(instances)
    for inst in items:
        if checker is None and inst.checker is None:
            raise SettingError("checker", f"instance {inst.id!r} has no checker and none was given")
    state: dict[str, Counts] = {x.id: Counts() for x in items}
    if store is not None:
        for key, rec in store.get_records(namespace).items():
            if key in state:
                state[key] = Counts.from_record(rec)
        drawn = sum(c.trials for c in state.values())
        if drawn and hasattr(gen, "reseed"):
            seq = np.random.SeedSequence([drawn, len(items), *stream])
            gen.reseed(int(seq.generate_state(1)[0]))
    return gen, items, state


def passuntil_sample(
    generator: Any,
    instances: Iterable[Any],
    checker: Callable[[Instance, str], bool] | None = None,
    r: int = 2,
    budget: int | Sequence[int] = 100_000,
    batch_size: int = 64,
    *,
    store: Any = None,
    namespace: str = "passuntil",
    progress: bool = True,
    description: str = "PassUntil",
    adaptive: bool = True,
    min_batch: int = 8,
) -> pd.DataFrame:
    """Run PassUntil over ``instances``; return one row of counts per instance.

    ``generator``: an object with ``sample(prompt, n)`` or a callable ``fn(prompt, n)``.
    ``checker``: ``fn(instance, completion) -> bool``; when None each instance's own checker
    (``fn(completion) -> bool``) is used. ``store``: a ``ResultStore`` to stream counts to and
    resume from. Columns of the result: ``instance, trials, passes, censored, checker_errors,
    first_error, r, budget``. ``budget``: one for every instance, or one per instance (in
    their order; e.g. from each instance's expected rate, :mod:`.rate_budget`). ``adaptive``:
    size each batch from the counts so far (see :func:`next_batch_size`) so that easy
    instances do not waste most of a large batch.
    """
    if r < 1:
        raise SettingError("r", f"must be at least 1, got {r}")
    if batch_size < 1:
        raise SettingError("batch_size", f"must be at least 1, got {batch_size}")
    gen, items, state = _start(generator, instances, checker, store, namespace, stream=())
    budgets = ([int(budget)] * len(items) if np.ndim(budget) == 0
               else [int(b) for b in budget])
    if len(budgets) != len(items):
        raise SettingError("budget", f"{len(budgets)} budgets for {len(items)} instances")
    if any(b < 1 for b in budgets):
        raise SettingError("budget", f"must be at least 1, got {min(budgets)}")

    def running_estimate() -> float:
        rates = [c.passes / c.trials for c in state.values() if c.trials]
        return sum(rates) / len(rates) if rates else float("nan")

    bar = _progress(progress)
    with bar:
        task = bar.add_task(description, total=len(items),
                            completed=sum(c.done for c in state.values()),
                            samples=sum(c.trials for c in state.values()), est="-")
        for inst, cap in zip(items, budgets, strict=True):
            cnt = state[inst.id]
            check = inst.checker if checker is None else (lambda c, _i=inst: checker(_i, c))
            while not cnt.done:
                n = next_batch_size(cnt, r, cap, batch_size, min_batch if adaptive else None)
                completions = gen.sample(inst.prompt, n)
                result = check_batch(check, completions)
                advance(cnt, result.passed, r, cap)
                if result.errors:
                    cnt.checker_errors += len(result.errors)
                    cnt.first_error = cnt.first_error or result.errors[0]
                if store is not None:
                    store.put_records(namespace, {inst.id: cnt.to_record()})
                bar.update(task, samples=sum(c.trials for c in state.values()),
                           est=f"{running_estimate():.3g}")
            bar.update(task, completed=sum(c.done for c in state.values()))
    rows = [{"instance": x.id, **state[x.id].to_record(), "r": r, "budget": cap}
            for x, cap in zip(items, budgets, strict=True)]
    df = pd.DataFrame(rows).drop(columns=["done"])
    return df


def _progress(enabled: bool) -> Any:
    from emergence_law.progress import progress_bar

    return progress_bar("instances, {task.fields[samples]:,} samples, PU~{task.fields[est]}",
                        enabled=enabled, remaining=False)


def adaptive_sample(
    generator: Any,
    instances: Iterable[Any],
    checker: Callable[[Instance, str], bool] | None = None,
    *,
    rel_error: float = 0.1,
    budget: int = 100_000,
    batch_size: int = 64,
    store: Any = None,
    namespace: str = "passuntil-adaptive",
    progress: bool = True,
    description: str = "PassUntil (adaptive)",
) -> tuple[pd.DataFrame, Any]:
    """Spend samples where they most reduce the variance of the task mean
    (:mod:`emergence_law.passuntil.allocation`) until it is known to ``rel_error``.

    Returns one row per instance (``instance, trials, passes, censored, checker_errors,
    first_error, budget, design``; ``design`` is ``fixed``: each row is a binomial count) and the
    :class:`~emergence_law.passuntil.allocation.AdaptiveResult`. Resumable like
    :func:`passuntil_sample`: counts stream to ``store`` after every batch.
    """
    from emergence_law.passuntil.allocation import run_adaptive

    if batch_size < 1:
        raise SettingError("batch_size", f"must be at least 1, got {batch_size}")
    gen, items, state = _start(generator, instances, checker, store, namespace, stream=(1,))

    def draw(i: int, n: int) -> int:
        inst = items[i]
        check = inst.checker if checker is None else (lambda c, _i=inst: checker(_i, c))
        got = 0
        while n > 0:  # the generator's batch is at most batch_size
            m = min(n, batch_size)
            result = check_batch(check, gen.sample(inst.prompt, m))
            got += int(sum(result.passed))
            if result.errors:
                cnt = state[inst.id]
                cnt.checker_errors += len(result.errors)
                cnt.first_error = cnt.first_error or result.errors[0]
            n -= m
        return got

    bar = _progress(progress)

    def on_batch(i: int, trials: int, passes: int) -> None:
        cnt = state[items[i].id]
        cnt.trials, cnt.passes = trials, passes
        if store is not None:
            store.put_records(namespace, {items[i].id: cnt.to_record()})
        rates = [c.passes / c.trials for c in state.values() if c.trials]
        bar.update(task, samples=sum(c.trials for c in state.values()),
                   est=f"{sum(rates) / len(rates):.3g}")

    with bar:
        task = bar.add_task(description, total=len(items), completed=0,
                            samples=sum(c.trials for c in state.values()), est="-")
        res = run_adaptive(draw, len(items), rel_error=rel_error, budget=budget,
                           batch=min(batch_size, budget),
                           trials=[state[x.id].trials for x in items],
                           passes=[state[x.id].passes for x in items], on_batch=on_batch)
        bar.update(task, completed=len(items))
    rows = [{"instance": x.id, **state[x.id].to_record(), "budget": budget, "design": "fixed"}
            for x in items]
    df = pd.DataFrame(rows).drop(columns=["done"])
    df["censored"] = True  # every row stopped at its allocation, not at a pass
    return df, res
