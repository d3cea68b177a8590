"""Ctrl-C in the middle of the lab's measuring sweep: the run stops at once (exit 130, one
line), leaves no job marked running, keeps every finished result, and the next run completes
the rest without measuring anything twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")


def _done(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=1) as con:
            return con.execute("SELECT count(*) FROM jobs WHERE status='done'").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


@pytest.mark.slow
def test_ctrl_c_during_the_measuring_sweep_loses_and_repeats_nothing(tmp_path):
    from emergence_law.lab.pipeline import run_lab
    from emergence_law.store import ResultStore

    out = tmp_path / "lab"
    store = out / "lab_store.sqlite"
    cmd = [sys.executable, "-m", "emergence_law.cli", "lab", "run", "--scale", "tiny",
           "--out", str(out), "--no-progress", "--workers", "2"]
    # a background process started by a shell may inherit SIGINT ignored; restore the default
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 240
    while _done(store) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err.strip().splitlines()[-1]
    with ResultStore(store) as s:
        counts = s.counts()
        kept = counts["done"]
    assert counts["running"] == 0 and kept >= 3
    assert not (out / "lab_summary.json").exists()  # it stopped before the end

    run_lab("tiny", out, progress=False, threads=1, workers=2)
    with ResultStore(store) as s:
        jobs = s.jobs()
        assert set(jobs["status"]) == {"done"}
        rows = s.job_rows()
    per_job = {}
    for jid, _, _ in rows:
        per_job[jid] = per_job.get(jid, 0) + 1
    # every job's rows are stored once: a few-shot job has 5 metric rows, a loss job 1
    assert all(n in (1, 5) for n in per_job.values()), per_job
    assert len(per_job) == len(jobs)
