"""Run independent analysis jobs (ablation fits, backtest cut-offs) across cores, with progress.

Why a module: ablations and backtests are many small, independent fits. A process pool (not
threads: the fits are pure-Python/numpy loops that hold the GIL) runs them side by side; a rich
progress bar shows how far it is; Ctrl-C stops cleanly: pending jobs are cancelled, the running
ones finish, and every finished result has already been handed to ``on_result`` (the commands
write their CSV there, so an interrupted run keeps what it computed).

Workers die with the parent (``kill -9`` of the command leaves none behind), ignore SIGINT
(only the parent decides to stop, so no worker prints a traceback) and limit BLAS to one thread: many tiny linear-algebra calls on an oversubscribed multi-threaded
BLAS are several times slower than on one thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from threadpoolctl import threadpool_limits

J = TypeVar("J")
R = TypeVar("R")


def default_workers() -> int:
    """Two workers by default (the project's CI machines have 2 cores), fewer if fewer cores."""
    return max(1, min(2, os.cpu_count() or 1))


def _init_worker() -> None:
    from emergence_law.sweep.lifeline import die_with_parent

    die_with_parent()  # a killed parent leaves no worker behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(limits=1, user_api="blas")
    warnings.simplefilter("ignore")


def _progress(enabled: bool, description: str, total: int):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    prog = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=False)
    return prog, prog.add_task(description, total=total)


def run_jobs(fn: Callable[[J], R], jobs: Sequence[J], *, workers: int | None = None,
             description: str = "jobs", progress: bool = True,
             on_result: Callable[[int, R], None] | None = None) -> list[R | None]:
    """``[fn(job) for job in jobs]``, in parallel; results in job order.

    ``fn`` must be a picklable top-level function. ``on_result(i, result)`` runs in this process
    as each job finishes (in completion order). On KeyboardInterrupt the pending jobs are
    cancelled, running ones are awaited and reported, then the interrupt is re-raised; the
    entries of jobs that never ran are ``None``.
    """
    workers = default_workers() if workers is None else max(1, int(workers))
    results: list[R | None] = [None] * len(jobs)
    prog, task = _progress(progress, description, len(jobs))

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
        pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), initializer=_init_worker)
        futures: dict[Future, int] = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    done(futures[fut], fut.result())
        except KeyboardInterrupt:
            for fut in pending:
                fut.cancel()
            for fut in pending:  # the ones already running: wait for them and keep them
                if not fut.cancelled():
                    # a failing job must not hide the interrupt
                    with contextlib.suppress(Exception):
                        done(futures[fut], fut.result())
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return results


def call_quietly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` with warnings silenced (fits warn about weak identifiability; the analyses
    report those cases through their own status columns instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)
