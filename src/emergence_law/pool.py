"""One process pool for the project's parallel work: a sweep's jobs and an analysis's fits.

Why one module: both need the same things, and each piece is easy to get subtly wrong twice.

- **Clean workers.** Workers come from a fork server (``forkserver`` where the platform has it;
  else ``spawn``), never a fork of the driver: the driver may hold CUDA state, torch threads
  or a live rich progress thread, none of which survives a fork, yet a new worker starts in
  milliseconds once the server has imported the package. The server imports a pool's
  ``preload`` modules (torch and transformers take seconds) once, not every worker again; a
  server that lacks some is replaced while no pool has workers.
- **Nothing outlives the driver.** The fork server dies with the driver and each worker with
  the fork server (:mod:`emergence_law.lifeline`): ``kill -9`` of the driver leaves no
  process behind.
- **Only the driver decides to stop.** Workers ignore SIGINT, so Ctrl-C in a terminal (which
  reaches the whole process group) prints no worker traceback; the driver then either ends the
  workers at once (:meth:`JobPool.close`: a sweep, whose store hands the cut jobs out again) or
  lets the running jobs finish and keeps them (:meth:`JobPool.drain`: an analysis, whose
  finished fits are rows of its CSV).
- **Bounded hand-out.** At most ``max_in_flight`` jobs are in the pool at once, so "running"
  means running (a sweep's store marks show it) and an interrupt has little to cancel.
- **A dying worker costs one job.** A worker that dies (out of memory, a segfault in native
  code) breaks the whole pool, and the jobs it held cannot be told apart: each of them is run
  again alone in a fresh pool, so only the job that really kills its worker comes back as
  :class:`WorkerDied`, and the rest go on.

Results come back as :class:`Finished` records in completion order, so a caller can write each
one as it arrives (an interrupted run keeps what it computed).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")

#: what a job that killed its worker is told
WORKER_DIED = ("worker process died while running this job (out of memory? a crash in native "
               "code?)")

#: imported by the fork server before it forks any worker (it must die with the driver)
_LIFELINE = "emergence_law.forkserver_lifeline"


def default_workers() -> int:
    """Two workers by default (the project's CI machines have 2 cores), fewer if fewer cores."""
    return max(1, min(2, os.cpu_count() or 1))


class WorkerDied(BrokenProcessPool):
    """The process running this job died (it alone, run again on its own, broke the pool)."""

    def __init__(self, message: str = WORKER_DIED) -> None:
        super().__init__(message)


@dataclass
class Finished(Generic[J, R]):
    """One job that ended: its position in the job list, the job, and its value or error."""

    index: int
    job: J
    value: R | None = None
    error: BaseException | None = None

    def result(self) -> R:
        """The value, or raise the job's error (as ``Future.result`` would)."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def _init_worker(setup: Callable[..., Any] | None, setup_args: tuple[Any, ...]) -> None:
    """First die with the fork server (so with the driver), then ignore Ctrl-C (see the module
    docstring), then the caller's own set-up (thread limits, warning filters)."""
    from emergence_law.lifeline import die_with_parent

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if setup is not None:
        setup(*setup_args)


#: the fork server :func:`_context` started last, and the modules it imported
_server: dict[str, Any] = {"pid": None, "modules": frozenset()}
#: pools whose workers are up: the fork server is not replaced under them
_open: weakref.WeakSet[JobPool[Any, Any]] = weakref.WeakSet()


def _context(preload: Iterable[str]) -> Any:
    """A fork-server context whose server dies with this process and has imported ``preload``
    (``spawn`` where there is no fork server), so each worker starts with them imported.

    Why replace a server: it keeps the preload list it was started with, and a worker imports
    whatever else it needs on its first job (torch and transformers: seconds, in every worker
    of every pool). A server this module started that lacks some of ``preload`` is stopped and
    started again with it, but only while no pool of this process has workers (they die with
    their server); otherwise the running server is kept.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover - Windows
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver

    server = forkserver._forkserver
    modules = [_LIFELINE, *dict.fromkeys(preload)]
    pid = getattr(server, "_forkserver_pid", None)
    if (pid is not None and pid == _server["pid"] and not _open
            and not set(modules) <= _server["modules"] and hasattr(server, "_stop")):
        server._stop()
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(modules)
    _start_ignoring_sigint(server)  # (again if it died)
    new_pid = getattr(server, "_forkserver_pid", None)
    if new_pid != pid:
        _server.update(pid=new_pid, modules=frozenset(modules))
    return ctx


def _start_ignoring_sigint(server: Any) -> None:
    """Start the fork server unless it runs, with SIGINT ignored from its first instruction
    (the disposition survives exec): it ignores SIGINT anyway once its preload is imported, but
    a Ctrl-C during those seconds of imports would end it with a traceback."""
    if threading.current_thread() is not threading.main_thread():
        server.ensure_running()
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        server.ensure_running()
    finally:
        signal.signal(signal.SIGINT, old if old is not None else signal.SIG_DFL)


class JobPool(Generic[J, R]):
    """``fn(job)`` for many jobs in ``workers`` clean processes; see the module docstring.

    ``fn`` must be picklable (a top-level function, or a ``functools.partial`` of one).
    ``setup(*setup_args)`` runs once in each worker (picklable too). ``preload`` names modules
    the fork server imports once, so each worker starts with them (e.g. the one ``fn`` lives in).
    Use as a context manager: leaving it ends the workers.
    """

    def __init__(self, fn: Callable[[J], R], workers: int, *, max_in_flight: int | None = None,
                 setup: Callable[..., Any] | None = None, setup_args: tuple[Any, ...] = (),
                 preload: Sequence[str] = ()) -> None:
        self.fn = fn
        self.workers = max(1, int(workers))
        self.max_in_flight = max(1, int(max_in_flight or self.workers))
        self.setup = setup
        self.setup_args = tuple(setup_args)
        self.preload = tuple(preload)
        self._pool: ProcessPoolExecutor | None = None
        self._running: dict[Future, tuple[int, J]] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(self.workers, mp_context=_context(self.preload),
                                   initializer=_init_worker,
                                   initargs=(self.setup, self.setup_args))
        _open.add(self)
        return pool

    def run(self, jobs: Sequence[J], on_start: Callable[[J], bool] | None = None
            ) -> Iterator[Finished[J, R]]:
        """Yield a :class:`Finished` for every job, in completion order.

        ``on_start(job)`` runs just before a job is handed to a worker; if it returns False the
        job is skipped (a sweep whose job another sweep has just claimed). A job's own exception
        comes back as its ``error``; so does :class:`WorkerDied` for a job that killed its
        worker. The pool stays up after the last job; :meth:`close` ends it.
        """
        queue = list(enumerate(jobs))[::-1]  # next job at the end
        suspects: set[int] = set()  # in flight when a worker died: rerun one at a time
        running = self._running
        if self._pool is None:
            self._pool = self._new_pool()
        while queue or running:
            while queue and len(running) < self.max_in_flight:
                alone = queue[-1][0] in suspects
                if alone and running:
                    break
                i, job = queue.pop()
                if on_start is not None and not on_start(job):
                    continue
                running[self._pool.submit(self.fn, job)] = (i, job)
                if alone:
                    break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            broken: list[tuple[int, J]] = []
            for fut in finished:
                i, job = running.pop(fut)
                exc = fut.exception()
                if isinstance(exc, BrokenProcessPool):
                    broken.append((i, job))
                    continue
                yield (Finished(i, job, error=exc) if exc is not None
                       else Finished(i, job, value=fut.result()))
            if broken or any(
                isinstance(f.exception(), BrokenProcessPool) for f in running if f.done()
            ):
                broken += list(running.values())
                running.clear()
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                if len(broken) == 1:
                    i, job = broken[0]
                    yield Finished(i, job, error=WorkerDied())
                else:
                    for i, job in broken:
                        suspects.add(i)
                        queue.append((i, job))

    def drain(self) -> Iterator[Finished[J, R]]:
        """After an interrupt: hand out nothing more, cancel the jobs no worker has started,
        wait for the running ones and yield them, then shut the pool down."""
        running, self._running = self._running, {}
        for fut in running:
            fut.cancel()
        for fut in running:
            if fut.cancelled():
                continue
            i, job = running[fut]
            exc = fut.exception()
            yield (Finished(i, job, error=exc) if exc is not None
                   else Finished(i, job, value=fut.result()))
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True, cancel_futures=True)
        _open.discard(self)

    def close(self) -> None:
        """End the workers now (a running job is cut short and yields nothing); since workers
        ignore SIGINT, without this an interrupted driver would wait for every running job."""
        self._running.clear()
        _open.discard(self)
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        if hasattr(pool, "terminate_workers"):  # Python >= 3.14
            pool.terminate_workers()
            return
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            if proc.is_alive():
                proc.terminate()

    def __enter__(self) -> JobPool[J, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
