"""Run a sweep: register its jobs in the store, run the ones not done, record every outcome.

Why this order: jobs are registered (pending) before anything runs, a job is marked running
just before a worker gets it, and its result is written in one transaction that also marks it
done. So at any moment, ``kill -9`` leaves each job either done with all its rows or not done;
the next run (or a sweep sharing the store, once its own queue is done, or any command that
opens the store) puts back the jobs whose process is gone and runs them again. Ctrl-C puts back
the jobs in flight at once. A failing job is recorded with its error and the sweep goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emergence_law.store import ResultStore, process_owner
from emergence_law.sweep.execute import JobOutcome
from emergence_law.sweep.executors import Executor
from emergence_law.sweep.plan import Job, SweepPlan


@dataclass
class SweepReport:
    """What one ``sweep run`` did."""

    planned: int
    already_done: int = 0
    skipped_failed: int = 0
    skipped_running: int = 0
    released_stale: int = 0
    retried: int = 0
    done: int = 0
    failed: int = 0
    interrupted: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.planned} jobs planned", f"{self.already_done} already done",
                 f"{self.done} done now", f"{self.failed} failed now"]
        if self.skipped_failed:
            parts.append(f"{self.skipped_failed} failed before and skipped (--retry-failed "
                         "runs them again)")
        if self.skipped_running:
            parts.append(f"{self.skipped_running} run by another sweep on this store")
        if self.released_stale:
            parts.append(f"{self.released_stale} left running by an ended run, run again")
        if self.retried:
            parts.append(f"{self.retried} failed jobs retried")
        if self.interrupted:
            parts.append("interrupted")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


ProgressHook = Callable[[Job, JobOutcome | None], None]


def run_sweep(
    plan: SweepPlan,
    store: ResultStore,
    executor: Executor,
    *,
    retry_failed: bool = False,
    on_event: ProgressHook | None = None,
    report: SweepReport | None = None,
) -> SweepReport:
    """Run every job of ``plan`` that is not done yet; return what happened.

    ``on_event(job, None)`` is called when a job starts and ``on_event(job, outcome)`` when it
    ends (for progress bars). On Ctrl-C the jobs in flight are put back to pending and the
    ``KeyboardInterrupt`` propagates; results already written stay. Pass your own ``report`` to
    read what was done when that happens.
    """
    if report is None:
        report = SweepReport(planned=len(plan))
    report.planned = len(plan)
    owner = process_owner()
    report.released_stale = store.release_stale() + store.reclaimed  # (on opening the store)
    store.reclaimed = 0
    ids = store.add_jobs(j.definition for j in plan.jobs)
    if retry_failed:
        report.retried = store.reset_failed(ids)
    status = store.statuses(ids)
    todo: list[Job] = []
    for job in plan.jobs:
        s = status.get(job.id, "pending")
        if s == "done":
            report.already_done += 1
        elif s == "failed":
            report.skipped_failed += 1
        elif s == "running":
            report.skipped_running += 1
        else:
            todo.append(job)
    in_flight: set[str] = set()
    record = _recorder(store, report, in_flight, on_event)

    def start(job: Job) -> bool:
        if job.id in in_flight:  # an executor re-submitting a job this run already claimed
            return True
        if not store.mark_running(job.id, owner):  # another sweep on this store took it
            report.skipped_running += 1
            return False
        in_flight.add(job.id)
        if on_event is not None:
            on_event(job, None)
        return True

    def taken_over() -> list[Job]:
        """Jobs of this plan left running by a sweep that has died since: run them now."""
        n = store.release_stale()
        if not n:
            return []
        status = store.statuses(ids)
        jobs = [j for j in plan.jobs if status.get(j.id) == "pending" and j.id not in in_flight]
        report.released_stale += n
        report.skipped_running = max(0, report.skipped_running - len(jobs))
        return jobs

    try:
        while todo:
            for job, outcome in executor.run(todo, on_start=start):
                record(job, outcome)
            todo = taken_over()
    except KeyboardInterrupt:
        report.interrupted = True
        executor.close()
        store.mark_pending(sorted(in_flight), note="interrupted (Ctrl-C) before it finished")
        raise
    finally:
        executor.close()
    return report


def _recorder(store: ResultStore, report: SweepReport, in_flight: set[str],
              on_event: ProgressHook | None) -> Callable[[Job, JobOutcome], None]:
    """Write each outcome to the store (the driver is the only writer) and count it."""

    def record(job: Job, outcome: JobOutcome) -> None:
        if outcome.ok:
            store.record_result(job.definition, outcome.rows or [], seconds=outcome.seconds,
                                worker=outcome.worker)
            report.done += 1
        else:
            store.record_failure(job.definition, outcome.error or "unknown error",
                                 outcome.traceback, worker=outcome.worker)
            report.failed += 1
            report.failures.append((job.label, outcome.error or "unknown error"))
        in_flight.discard(job.id)
        if on_event is not None:
            on_event(job, outcome)

    return record
