"""Run independent analysis jobs (ablation fits, backtest cut-offs) across cores, with progress.

Why a module: ablations and backtests are many small, independent fits. A process pool (not
threads: the fits are pure-Python/numpy loops that hold the GIL) runs them side by side; a rich
progress bar shows how far it is; Ctrl-C stops cleanly: pending jobs are cancelled, the running
ones finish, and every finished result has already been handed to ``on_result`` (the commands
write their CSV there, so an interrupted run keeps what it computed).

The pool is the project's one :class:`~emergence_law.pool.JobPool` (clean workers from a fork
server, which die with the parent, so ``kill -9`` of the command leaves none behind, and ignore
SIGINT, so only the parent decides to stop and no worker prints a traceback). Its workers here
also limit BLAS to one thread: many tiny linear-algebra calls on an oversubscribed
multi-threaded BLAS are several times slower than on one thread. And they silence warnings: the
fits warn about weak identifiability, which the analyses report through their own status
columns instead.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import TypeVar

from threadpoolctl import threadpool_limits

from emergence_law.pool import JobPool, default_workers
from emergence_law.progress import progress_bar

J = TypeVar("J")
R = TypeVar("R")

__all__ = ["default_workers", "run_jobs"]


def _quiet_single_threaded() -> None:
    """Set-up of each analysis worker: one BLAS thread, no warnings (see the module docstring)."""
    threadpool_limits(limits=1, user_api="blas")
    warnings.simplefilter("ignore")


def run_jobs(fn: Callable[[J], R], jobs: Sequence[J], *, workers: int | None = None,
             description: str = "jobs", progress: bool = True,
             on_result: Callable[[int, R], None] | None = None) -> list[R | None]:
    """``[fn(job) for job in jobs]``, in parallel; results in job order.

    ``fn`` must be a picklable top-level function. ``on_result(i, result)`` runs in this process
    as each job finishes (in completion order). On KeyboardInterrupt the pending jobs are
    cancelled, running ones are awaited and reported, then the interrupt is re-raised; the
    entries of jobs that never ran are ``None``. A job's exception is raised here; a job whose
    worker dies raises :class:`~emergence_law.pool.WorkerDied` (the other jobs it shared the
    pool with are run again).
    """
    workers = default_workers() if workers is None else max(1, int(workers))
    results: list[R | None] = [None] * len(jobs)
    prog = progress_bar(stderr=True, enabled=progress)
    task = prog.add_task(description, total=len(jobs))

    def done(i: int, r: R) -> None:
        results[i] = r
        if on_result is not None:
            on_result(i, r)
        prog.advance(task)

    with prog:
        if workers == 1 or len(jobs) <= 1:
            with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for i, job in enumerate(jobs):
                    done(i, fn(job))
            return results
        with JobPool(fn, min(workers, len(jobs)), setup=_quiet_single_threaded,
                     preload=[fn.__module__] if fn.__module__ != "__main__" else []) as pool:
            try:
                for fin in pool.run(jobs):
                    done(fin.index, fin.result())
            except KeyboardInterrupt:
                for fin in pool.drain():  # the ones already running: wait for them, keep them
                    # a failing job must not hide the interrupt
                    with contextlib.suppress(Exception):
                        done(fin.index, fin.result())
                raise
    return results
