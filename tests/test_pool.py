"""The one process pool (sweeps and analyses): real worker processes, a worker that really
dies, the hand-out limit, the workers' set-up, and ending workers at once."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from emergence_law.pool import JobPool, WorkerDied

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture(autouse=True)
def _workers_can_import_this_module(monkeypatch):
    """Workers come from a fork server, not a fork of pytest, so they import ``fn``'s module by
    name: pytest's importlib mode does not put ``tests/`` on ``sys.path``."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))


#: modules nothing else in a worker imports: preloaded (or not) by the fork server alone
PROBES = ("graphlib", "sched", "tabnanny")


def _job(x: object) -> object:
    """'crash' kills its worker; 'state' reports what the worker's set-up did; 'modules' which
    of :data:`PROBES` the worker already had; a number sleeps."""
    if x == "crash":
        os._exit(1)
    if x == "modules":
        return {m for m in PROBES if m in sys.modules}
    if isinstance(x, str) and x.startswith("has:"):
        return x[4:] in sys.modules
    if x == "state":
        return (os.environ.get("POOL_TEST_SETUP"),
                signal.getsignal(signal.SIGINT) == signal.SIG_IGN, os.getpid())
    time.sleep(float(x))
    return x


def _setup(value: str) -> None:
    os.environ["POOL_TEST_SETUP"] = value


def test_only_the_job_that_kills_its_worker_fails_and_the_others_finish() -> None:
    jobs = [0.3, "crash", 0.3, 0.3, 0.2]
    with JobPool(_job, 2) as pool:
        done = {f.index: f for f in pool.run(jobs)}
    assert sorted(done) == [0, 1, 2, 3, 4]  # every job reported once
    assert isinstance(done[1].error, WorkerDied)
    assert "worker process died" in str(done[1].error)
    with pytest.raises(WorkerDied):
        done[1].result()
    assert all(done[i].result() == jobs[i] for i in (0, 2, 3, 4))


def test_workers_run_the_set_up_ignore_sigint_and_are_other_processes() -> None:
    with JobPool(_job, 2, setup=_setup, setup_args=("ready",)) as pool:
        out = [f.result() for f in pool.run(["state"] * 3)]
    assert all(v == "ready" and ignored for v, ignored, _ in out)
    assert os.getpid() not in {pid for _, _, pid in out}


def test_at_most_max_in_flight_jobs_are_handed_out_and_on_start_can_skip() -> None:
    started, ended, most = [], [], 0

    def on_start(x: float) -> bool:
        nonlocal most
        if x == 0.25:  # e.g. another sweep took this job: skipped, never run
            return False
        started.append(x)
        most = max(most, len(started) - len(ended))
        return True

    with JobPool(_job, 2, max_in_flight=1) as pool:
        for fin in pool.run([0.1, 0.25, 0.1, 0.1], on_start):
            ended.append(fin.result())
    assert most == 1 and ended == [0.1, 0.1, 0.1]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_close_ends_running_workers_at_once() -> None:
    pool = JobPool(_job, 2)
    it = pool.run(["state", 60.0, 60.0])
    first = next(it)  # the other two now sleep in the workers
    pids = [p.pid for p in pool._pool._processes.values()]
    assert first.result()[2] in pids
    t0 = time.monotonic()
    pool.close()
    deadline = t0 + 20
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def test_workers_start_with_their_pool_s_preload_even_after_other_pools() -> None:
    """The fork server, replaced while no pool has workers, imports each pool's preload once,
    so every worker starts with it (the lab's workers with torch: not seconds each again)."""
    with JobPool(_job, 2, preload=["graphlib"]) as pool:
        first = [f.result() for f in pool.run(["modules"] * 3)]
    with JobPool(_job, 2, preload=["sched"]) as pool:
        second = [f.result() for f in pool.run(["modules"] * 3)]
    assert all("graphlib" in m for m in first)
    assert all("sched" in m for m in second)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_pool_with_workers_keeps_its_fork_server() -> None:
    """A pool asking for other modules while another pool's workers are up gets the running
    server (its workers import what they need): replacing it would kill those workers."""
    with JobPool(_job, 1) as first:
        pid = next(first.run(["state"])).result()[2]
        with JobPool(_job, 1, preload=["tabnanny"]) as second:
            assert next(second.run(["modules"])).result() is not None
        assert _alive(pid)
        again = next(first.run(["state"]))
        assert again.error is None and again.result()[2] == pid


def test_ctrl_c_while_the_fork_server_imports_its_preload_does_not_kill_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server starts with SIGINT ignored: importing torch takes seconds, and a Ctrl-C
    then (it reaches the whole process group) would end it with a traceback."""
    from multiprocessing import forkserver

    slow = f"slow_preload_{os.getpid()}"
    (tmp_path / f"{slow}.py").write_text("import time\ntime.sleep(2)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the server's own sys.path
    handler = signal.getsignal(signal.SIGINT)
    hit: list[int] = []

    before = forkserver._forkserver._forkserver_pid  # a server an earlier test left running

    def ctrl_c() -> None:  # while the new server sleeps in its preload
        # replacing the old server waits for its processes to exit (slow on a loaded machine):
        # hit the new one, not the old one on its way out
        for _ in range(200):
            pid = forkserver._forkserver._forkserver_pid
            if pid not in (None, before):
                break
            time.sleep(0.01)
        hit.append(pid)
        os.kill(pid, signal.SIGINT)

    timer = threading.Timer(0.3, ctrl_c)
    with JobPool(_job, 1, preload=[slow]) as pool:
        timer.start()
        fin = next(pool.run([f"has:{slow}"]))
    timer.join()
    assert fin.result() is True  # its worker came from a server that imported the module
    assert hit == [forkserver._forkserver._forkserver_pid]  # the server hit, still serving
    assert signal.getsignal(signal.SIGINT) is handler  # the driver's own handler is back


def _probe_rows(definition: dict, device: str = "cpu") -> list[dict]:
    """A sweep's python job: which of :data:`PROBES` its worker had before the job."""
    return [{"kind": "probe", "label": definition.get("checkpoint"),
             "preloaded": sorted(m for m in PROBES if m in sys.modules)}]


def test_a_sweep_s_pool_workers_start_with_the_executor_s_preload(tmp_path: Path) -> None:
    """``make_executor(preload=...)`` (the lab passes torch, transformers, ...) reaches the
    sweep's pool: its workers start with those modules imported."""
    from emergence_law.sweep.executors import make_executor
    from emergence_law.sweep.plan import Job

    jobs = [Job({"kind": "python", "callable": f"{__name__}:_probe_rows", "checkpoint": str(i)})
            for i in range(3)]
    ex = make_executor("local", workers=2, base_dir=tmp_path, preload=["tabnanny"])
    try:
        outcomes = [o for _, o in ex.run(jobs)]
    finally:
        ex.close()
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert all("tabnanny" in o.rows[0]["preloaded"] for o in outcomes)
