"""Crash and resume for real: `sweep run` in a subprocess, killed with SIGKILL (and Ctrl-C).

After every kill the store must be sound, hold each finished job's rows exactly once and
nothing of unfinished jobs; a final `sweep run` must complete every job exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from emergence_law.store import ResultStore

from .conftest import synthetic_recipe, write_recipe

N_JOBS = 36  # 1 model x 6 checkpoints x (loss + few-shot + 2 D x 2 subsets)


def _start(recipe: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "emergence_law", "sweep", "run", str(recipe)],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=recipe.parent,
        # a process started in the background by a shell may inherit SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _done(store: Path) -> int:
    """Done jobs, read through a separate read-only connection (as a monitoring tool would)."""
    if not store.exists():
        return -1
    try:
        con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM jobs WHERE status='done'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # tables not created yet
        return -1


def _kill_when(proc: subprocess.Popen, store: Path, at_least: int, sig: int,
               delay: float = 0.0) -> int:
    """Signal ``proc`` once ``at_least`` jobs are done (plus ``delay``: into the next job)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if _done(store) >= at_least:
            break
        time.sleep(0.005)
    time.sleep(delay)
    assert proc.poll() is None, "the sweep ended before the kill point"
    proc.send_signal(sig)
    return proc.wait(30)


def _check_sound(store: Path) -> dict[str, int]:
    """Integrity, and rows exactly for done jobs: one row each (synthetic jobs give one)."""
    with ResultStore(store, reclaim=False) as s:  # as the kill left it
        assert s.integrity_check() == "ok"
        con = s._conn
        per_job = dict(con.execute("SELECT job_id, COUNT(*) FROM observations GROUP BY job_id"))
        status = s.statuses()
        for jid, st in status.items():
            assert per_job.get(jid, 0) == (1 if st == "done" else 0), (jid, st)
        assert set(per_job) <= set(status)
        return s.counts()


def test_sigkill_at_several_points_then_resume_completes_exactly_once(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, synthetic_recipe(
        models=1, steps=[1000, 2000, 4000, 8000, 16000, 32000],
        hparams={"sleep_s": 0.03}, loss_hparams={"sleep_s": 0.03}))
    store = tmp_path / "store.sqlite"
    log = tmp_path / "log.txt"
    done_before = 0
    left_running = 0
    # before any job finished (store being created / jobs registered), early, late; right
    # after a result was committed (delay 0) or in the middle of the next job
    for at_least, delay in ((0, 0.0), (5, 0.015), (20, 0.0), (28, 0.015)):
        proc = _start(recipe, log)
        rc = _kill_when(proc, store, at_least, signal.SIGKILL, delay)
        assert rc == -signal.SIGKILL
        counts = _check_sound(store) if store.exists() else {"done": 0, "running": 0}
        assert counts["done"] >= done_before  # nothing finished is ever lost
        done_before = counts["done"]
        left_running += counts["running"]
    assert 0 < done_before < N_JOBS
    assert left_running >= 1  # some kill cut a job short, leaving it marked running
    final = _start(recipe, log)
    assert final.wait(120) == 0, log.read_text()
    counts = _check_sound(store)
    assert counts == {"pending": 0, "running": 0, "done": N_JOBS, "failed": 0}
    with ResultStore(store) as s:
        jobs = s.jobs()
        assert len(s.observation_rows()) == N_JOBS
        assert (jobs["attempts"] > 1).any()  # jobs cut short by a kill were run again
    text = log.read_text()
    assert "left running by an ended run, run again" in text


def test_ctrl_c_marks_the_job_in_flight_not_done(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, synthetic_recipe(
        models=1, steps=[1000, 2000], hparams={"sleep_s": 0.05},
        loss_hparams={"sleep_s": 0.05}))
    store = tmp_path / "store.sqlite"
    log = tmp_path / "log.txt"
    proc = _start(recipe, log)
    rc = _kill_when(proc, store, 4, signal.SIGINT, delay=0.02)  # in the middle of a job
    assert rc == 130, log.read_text()
    text = log.read_text()
    assert "interrupted" in text and "Traceback" not in text
    counts = _check_sound(store)
    assert counts["running"] == 0 and counts["done"] >= 4
    with ResultStore(store) as s:
        notes = s.jobs("pending")["error"].dropna()
        assert notes.str.contains("interrupted (Ctrl-C)", regex=False).any()


def test_two_sweeps_on_one_store_share_the_work(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, synthetic_recipe(
        models=1, steps=[1000, 2000, 4000], hparams={"sleep_s": 0.1},
        loss_hparams={"sleep_s": 0.1}))
    store = tmp_path / "store.sqlite"
    log = tmp_path / "log.txt"
    first, second = _start(recipe, log), _start(recipe, log)
    assert first.wait(120) == 0 and second.wait(120) == 0, log.read_text()
    counts = _check_sound(store)
    assert counts["done"] == 18
    with ResultStore(store) as s:
        jobs = s.jobs()
    assert (jobs["attempts"] == 1).all()  # a job claimed by one sweep is never run by the other
    pids = {json.loads(w)["pid"] for w in jobs["worker"]}
    assert pids == {first.pid, second.pid}  # both ran some of the jobs
