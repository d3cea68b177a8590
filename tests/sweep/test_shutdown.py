"""Clean shutdown, for real: `kill -9` of a driver leaves no process behind, and the jobs of a
dead driver are taken over at once by a sweep that shares its store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emergence_law.store import ResultStore

from .conftest import synthetic_recipe, write_recipe

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie is dead (waiting for a parent that may never reap it)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(p))
    out, todo = set(), [root]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _wait_for(cond, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def _running(store: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM jobs WHERE status='running'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def _sweep(recipe: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "emergence_law", "sweep", "run", str(recipe),
                             *args], cwd=recipe.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _kill_and_check_nothing_is_left(proc: subprocess.Popen, helpers: set[int]) -> None:
    proc.kill()
    proc.wait(30)
    assert _wait_for(lambda: not any(_alive(p) for p in helpers), timeout=20), [
        (p, Path(f"/proc/{p}/cmdline").read_bytes()[:100]) for p in helpers if _alive(p)]


def test_kill_9_of_a_pool_sweep_leaves_no_process(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, synthetic_recipe(
        models=1, steps=[1000, 2000, 4000], hparams={"sleep_s": 30},
        loss_hparams={"sleep_s": 30}))
    proc = _sweep(recipe, "--workers", "2")
    try:
        # both workers busy: resource tracker + fork server + 2 workers under the driver
        assert _wait_for(lambda: _running(tmp_path / "store.sqlite") == 2
                         and len(_descendants(proc.pid)) >= 4), _descendants(proc.pid)
        helpers = _descendants(proc.pid)
        _kill_and_check_nothing_is_left(proc, helpers)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


DRIVER = """
import sys, time
from emergence_law.analysis.runner import run_jobs
print("start", flush=True)
run_jobs(time.sleep, [60.0] * 4, workers=2, progress=False)
"""


def test_kill_9_of_an_analysis_pool_leaves_no_worker() -> None:
    proc = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "start"
        assert _wait_for(lambda: len(_descendants(proc.pid)) >= 2)
        time.sleep(0.5)  # let the workers run their initializer
        _kill_and_check_nothing_is_left(proc, _descendants(proc.pid))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_sweep_takes_over_the_jobs_of_a_killed_sibling_at_once(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, synthetic_recipe(
        models=1, steps=[1000, 2000, 4000], hparams={"sleep_s": 0.4},
        loss_hparams={"sleep_s": 0.4}))
    store = tmp_path / "store.sqlite"
    first = _sweep(recipe)
    second = None
    try:
        assert _wait_for(lambda: _running(store) == 1)
        second = _sweep(recipe)
        assert _wait_for(lambda: _running(store) == 2)
        first.kill()  # its job in flight stays 'running' under a dead owner
        first.wait(30)
        out, _ = second.communicate(timeout=120)
        assert second.returncode == 0, out
        assert "left running by an ended run, run again" in out
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    with ResultStore(store, reclaim=False) as s:
        assert s.counts() == {"pending": 0, "running": 0, "done": 18, "failed": 0}
        assert (s.jobs()["attempts"] == 2).sum() >= 1  # the killed job, run again by the second


def test_die_with_parent_ends_a_child_whose_parent_is_killed() -> None:
    code = ("import os, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'from emergence_law.lifeline "
            "import die_with_parent; print(die_with_parent(), flush=True); import time; "
            "time.sleep(60)'])\n"
            "print(child.pid, flush=True)\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "prctl"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(30)
        assert _wait_for(lambda: not _alive(child), timeout=10)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
