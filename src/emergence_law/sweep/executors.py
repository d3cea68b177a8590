"""Where jobs run: in this process, in a local process pool, or as Ray tasks.

Every executor has the same shape: it takes jobs, calls ``on_start(job)`` just before each one
is handed to a worker (the runner claims it in the store; if the claim fails, e.g. another sweep
took the job, ``on_start`` returns False and the job is skipped), and yields ``(job, outcome)``
pairs as jobs finish, in completion order. Results always travel back to the driver, which alone writes to the
store: one writer, so no locking between workers and no result written twice.

At most ``max_in_flight`` jobs are handed out at once, so the store's ``running`` marks show what
is really running, and an interrupted sweep puts back only those.
"""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from emergence_law.errors import SettingError
from emergence_law.lifeline import start_reaper
from emergence_law.pool import JobPool, WorkerDied
from emergence_law.sweep.execute import JobOutcome, ProgressFn, execute
from emergence_law.sweep.plan import Job

OnStart = Callable[[Job], bool]


def _noop(job: Job) -> bool:
    return True


class Executor(ABC):
    """Runs jobs and yields their outcomes as they finish."""

    name = "executor"

    def __init__(self, *, base_dir: str | Path = ".", device: str = "cpu") -> None:
        self.base_dir = str(base_dir)
        self.device = device

    @abstractmethod
    def run(self, jobs: Sequence[Job], on_start: OnStart = _noop
            ) -> Iterator[tuple[Job, JobOutcome]]:
        """Yield ``(job, outcome)`` for every job, in completion order."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release workers (cancelling what is still queued)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessExecutor(Executor):
    """One job at a time in this process: simplest, and the model stays in this process.

    ``job_progress(done, total)``, if given, follows the running job (batches evaluated,
    training steps), e.g. for a second progress bar.
    """

    name = "local"

    def __init__(self, *, base_dir: str | Path = ".", device: str = "cpu",
                 job_progress: ProgressFn | None = None) -> None:
        super().__init__(base_dir=base_dir, device=device)
        self.job_progress = job_progress

    def run(self, jobs: Sequence[Job], on_start: OnStart = _noop
            ) -> Iterator[tuple[Job, JobOutcome]]:
        for job in jobs:
            if not on_start(job):
                continue
            yield job, execute(job.definition, base_dir=self.base_dir, device=self.device,
                               progress=self.job_progress)


def _limit_torch_threads(threads: int | None) -> None:
    """Set-up of each pool worker: several workers that each take every core slow each other
    down (for small models one thread per worker is fastest)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def _execute_job(job: Job, base_dir: str, device: str) -> JobOutcome:
    """What a pool worker runs: one job (a top-level function, so the pool can send it)."""
    return execute(job.definition, base_dir=base_dir, device=device)


class ProcessPoolJobExecutor(Executor):
    """Jobs in ``workers`` separate processes: the project's one
    :class:`~emergence_law.pool.JobPool` (clean workers from a fork server, so CUDA and torch
    threads start clean in each; nothing outlives a killed driver; workers ignore SIGINT).

    A worker that dies (out of memory, a segfault in a kernel) breaks the pool, and the jobs it
    held cannot be told apart: each of them is run again alone in a fresh pool, so only the job
    that really kills its worker is recorded as failed, and the sweep goes on.

    ``preload``: modules the jobs need (e.g. torch), imported once by the pool's fork server
    rather than by every worker (:func:`emergence_law.pool._context`).
    """

    name = "local"

    def __init__(self, workers: int, *, base_dir: str | Path = ".", device: str = "cpu",
                 max_in_flight: int | None = None, threads: int | None = None,
                 preload: Sequence[str] = ()) -> None:
        super().__init__(base_dir=base_dir, device=device)
        if workers < 1:
            raise SettingError("workers", f"must be at least 1, got {workers}")
        if threads is not None and threads < 1:
            raise SettingError("threads", f"must be at least 1, got {threads}")
        self.workers = workers
        self.threads = threads
        self.max_in_flight = max_in_flight or workers
        self.preload = ["emergence_law.sweep.executors", *preload]
        self._pool: JobPool[Job, JobOutcome] | None = None

    def run(self, jobs: Sequence[Job], on_start: OnStart = _noop
            ) -> Iterator[tuple[Job, JobOutcome]]:
        self.close()
        self._pool = JobPool(partial(_execute_job, base_dir=self.base_dir, device=self.device),
                             self.workers, max_in_flight=self.max_in_flight,
                             setup=_limit_torch_threads, setup_args=(self.threads,),
                             preload=self.preload)
        for fin in self._pool.run(jobs, on_start):
            if isinstance(fin.error, WorkerDied):
                yield fin.job, JobOutcome(fin.job.id, None, str(fin.error))
            elif fin.error is not None:  # e.g. the outcome could not be pickled back
                yield fin.job, JobOutcome(fin.job.id, None,
                                          f"{type(fin.error).__name__}: {fin.error}")
            else:
                yield fin.job, fin.result()
        self.close()

    def close(self) -> None:
        """Cancel queued jobs and end the workers now: a job cut short is not recorded, and the
        store hands it out again on the next run (workers ignore SIGINT, so without this an
        interrupted sweep would wait for every running job to finish)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()


def _ray_execute(definition: dict[str, Any], base_dir: str, device: str) -> JobOutcome:
    """The Ray task: run one job on a worker and send its outcome back to the driver."""
    import ray

    outcome = execute(definition, base_dir=base_dir, device=device)
    ctx = ray.get_runtime_context()
    outcome.worker = {**(outcome.worker or {}), "node": ctx.get_node_id(),
                      "resources": ctx.get_assigned_resources()}
    return outcome


#: Ray errors that mean the machine (or its raylet) was lost, not that the job failed
_NODE_LOST = ("NodeDiedError", "LocalRayletDiedError", "OwnerDiedError", "ObjectLostError",
              "ObjectFetchTimedOutError", "ObjectReconstructionFailedError")


def describe_ray_error(exc: BaseException, max_retries: int = 0) -> str:
    """One line saying what a failed Ray task means: node lost, worker died, Ray's memory
    monitor, or the job's own error (shown as it is)."""
    names = {c.__name__ for c in type(exc).__mro__}
    text = " ".join(f"{type(exc).__name__}: {exc}".split())[:1500]
    tries = (f"Ray retried it {max_retries} time(s) (ray: max_retries in the recipe)"
             if max_retries else "not retried (set ray: max_retries in the recipe to retry it)")
    if names & set(_NODE_LOST) or re.search(
            r"\bnode\b[^.]*\b(died|dying|dead|unavailable|lost|removed)\b", text, re.I):
        return f"Ray node lost while running this job; {tries}: {text}"
    if "OutOfMemoryError" in names:
        return f"Ray's memory monitor killed the worker running this job; {tries}: {text}"
    if "WorkerCrashedError" in names:
        return (f"the Ray worker process died while running this job (out of memory? a crash "
                f"in native code?); {tries}: {text}")
    return text


def capacity_problem(nodes: Sequence[dict[str, Any]], want: dict[str, float]
                     ) -> tuple[str, str] | None:
    """Why no alive node can run a job asking for ``want`` now (None if one can).

    ``("node_lost", why)`` when only nodes that have died could run it (wait for them, and
    report a node loss, not an impossible request); ``("impossible", why)`` when no node of the
    cluster, alive or dead, ever could. ``nodes`` is ``ray.nodes()``.
    """
    def fits(node: dict[str, Any]) -> bool:
        res = node.get("Resources", {})
        return all(res.get(k, 0) >= v for k, v in want.items() if v)

    alive = [n for n in nodes if n.get("Alive")]
    if any(fits(n) for n in alive):
        return None
    asked = ", ".join(f"{v:g} {k}" for k, v in want.items() if v)
    best = {k: max((n.get("Resources", {}).get(k, 0) for n in alive), default=0) for k in want}
    have = ", ".join(f"{best[k]:g} {k}" for k, v in want.items() if v)
    lost = [n for n in nodes if not n.get("Alive") and fits(n)]
    if lost:
        return ("node_lost", f"Ray node lost: {len(lost)} node(s) that could run this job "
                f"died and no alive node can (it asks for {asked}; the largest alive node has "
                f"{have}); run the sweep again once the cluster is back")
    return ("impossible", f"no Ray node can run this job: it asks for {asked}; the largest "
            f"node has {have} (set the job's `resources:` in the recipe)")


class RayExecutor(Executor):
    """Each job a Ray task with its own resource request (``num_cpus``, ``num_gpus``, ``memory``).

    Connects to ``address`` (``auto``, ``ray://host:10001``) or starts a local instance. Tasks
    are not retried by Ray (``max_retries=0`` by default): a failure is recorded, and retried on
    request with ``--retry-failed``; with ``max_retries`` Ray reruns a task whose worker or node
    died. A lost node is reported as such (:func:`describe_ray_error`); jobs that only a lost
    node could run wait up to ``node_wait_s`` for the cluster to recover, then fail as "node
    lost". A local instance started here is stood down on close, and if the driver is killed a
    watchdog (:func:`emergence_law.lifeline.start_reaper`) ends its agents, which Ray leaves running. The
    package must be importable on the workers (install it there, or pass ``runtime_env``).
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, base_dir: str | Path = ".",
                 device: str = "cpu", max_in_flight: int | None = None, max_retries: int = 0,
                 init_kwargs: dict[str, Any] | None = None, check_resources: bool = True,
                 node_wait_s: float = 120.0) -> None:
        super().__init__(base_dir=base_dir, device=device)
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - ray is in the 'distributed' extra
            raise SettingError("executor", "ray is not installed (pip install "
                               "'emergence-law[distributed]')") from exc
        self._ray = ray
        self._started = False
        self._reaper = None
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": True, **(init_kwargs or {})}
            if address:
                kwargs["address"] = address
            else:  # a local instance: this process owns its services
                self._reaper = start_reaper()
            ray.init(**kwargs)
            self._started = True
        self.max_in_flight = max_in_flight or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.max_retries = max_retries
        self.check_resources = check_resources
        self.node_wait_s = node_wait_s
        self._remote = ray.remote(_ray_execute)
        self._running: dict[Any, Job] = {}

    def _capacity(self, job: Job) -> tuple[str, str] | None:
        """Why no node can run ``job`` now (see :func:`capacity_problem`), or None.

        Ray would keep such a task pending for ever; an autoscaling cluster that grows on
        demand should set ``ray: {check_resources: false}`` in the recipe.
        """
        if not self.check_resources:
            return None
        want = {"CPU": job.resources.get("num_cpus", 1), "GPU": job.resources.get("num_gpus", 0),
                "memory": job.resources.get("memory", 0)}
        return capacity_problem(self._ray.nodes(), want)

    def _infeasible(self, job: Job) -> str | None:
        problem = self._capacity(job)
        return None if problem is None else problem[1]

    def _options(self, job: Job) -> dict[str, Any]:
        res = job.resources
        opts: dict[str, Any] = {"max_retries": self.max_retries,
                                "num_cpus": res.get("num_cpus", 1),
                                "num_gpus": res.get("num_gpus", 0)}
        if res.get("memory"):
            opts["memory"] = res["memory"]
        return opts

    def run(self, jobs: Sequence[Job], on_start: OnStart = _noop
            ) -> Iterator[tuple[Job, JobOutcome]]:
        import time

        ray = self._ray
        queue = list(jobs)[::-1]
        running = self._running
        waiting: list[Job] = []  # only a lost node could run these: wait for the cluster
        waited_since: float | None = None
        while queue or running or waiting:
            while queue and len(running) < self.max_in_flight:
                job = queue.pop()
                problem = self._capacity(job)
                if problem is not None and problem[0] == "node_lost":
                    waiting.append(job)
                    continue
                if problem is not None:
                    if on_start(job):
                        yield job, JobOutcome(job.id, None, problem[1])
                    continue
                if not on_start(job):
                    continue
                ref = self._remote.options(**self._options(job)).remote(
                    job.definition, self.base_dir, self.device)
                running[ref] = job
            if not running:
                if not waiting:
                    continue
                # nothing runs and only jobs for lost nodes are left: wait for the cluster
                waited_since = waited_since or time.monotonic()
                if time.monotonic() - waited_since > self.node_wait_s:
                    for job in waiting:
                        problem = self._capacity(job)
                        if on_start(job):
                            yield job, JobOutcome(job.id, None, (problem or ("", (
                                "Ray node lost and the cluster did not recover in "
                                f"{self.node_wait_s:g} s")))[1])
                    waiting = []
                    continue
                time.sleep(min(2.0, self.node_wait_s))
                queue, waiting = waiting[::-1] + queue, []
                continue
            waited_since = None
            if waiting:  # give them another chance once something finishes
                queue, waiting = queue + waiting[::-1], []
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                job = running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # worker crashed, node lost, task cancelled, ...
                    outcome = JobOutcome(job.id, None, describe_ray_error(exc,
                                                                          self.max_retries))
                yield job, outcome

    def close(self) -> None:
        for ref in list(self._running):
            with contextlib.suppress(Exception):  # best effort on shutdown
                self._ray.cancel(ref, force=True)
        self._running.clear()
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False
        if self._reaper is not None:  # stood down: the instance was shut down cleanly
            self._reaper.terminate()
            with contextlib.suppress(Exception):
                self._reaper.wait(10)
            self._reaper = None


def make_executor(executor: str, *, workers: int | None = None, address: str | None = None,
                  base_dir: str | Path = ".", device: str = "cpu",
                  ray_options: dict[str, Any] | None = None, threads: int | None = None,
                  preload: Sequence[str] = ()) -> Executor:
    """The executor named on the command line (``local`` or ``ray``); ``threads`` limits torch's
    threads per local worker process, and ``preload`` names modules its fork server imports
    once for them all."""
    if workers is not None and workers < 1:
        raise SettingError("workers", f"must be at least 1, got {workers}")
    if executor == "local":
        if address:
            raise SettingError("address", "only used with --executor ray")
        if workers is None or workers == 1:
            return InProcessExecutor(base_dir=base_dir, device=device)
        return ProcessPoolJobExecutor(workers, base_dir=base_dir, device=device,
                                      threads=threads, preload=preload)
    if executor == "ray":
        opts = dict(ray_options or {})
        return RayExecutor(
            address=address or opts.pop("address", None), base_dir=base_dir, device=device,
            max_in_flight=workers or opts.pop("max_in_flight", None),
            max_retries=int(opts.pop("max_retries", 0)), init_kwargs=opts.pop("init", None),
            check_resources=bool(opts.pop("check_resources", True)),
        )
    raise SettingError("executor", f"expected 'local' or 'ray', got {executor!r}")
