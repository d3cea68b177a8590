"""The parallel job runner: order of results, real worker processes, safe interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from emergence_law.analysis.runner import run_jobs

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _workers_can_import_this_module(monkeypatch):
    """Pool workers start clean (a fork server, not a fork of pytest), so they import
    ``fn``'s module by name: pytest's importlib mode does not put ``tests/`` on ``sys.path``."""
    monkeypatch.syspath_prepend(str(TESTS))


def _square_slowly(x: float) -> tuple[float, int]:
    time.sleep(0.3)
    return x * x, os.getpid()


def test_results_come_back_in_job_order_from_worker_processes():
    seen = []
    res = run_jobs(_square_slowly, [1, 2, 3, 4], workers=2, progress=False,
                   on_result=lambda i, r: seen.append(i))
    assert [r[0] for r in res] == [1, 4, 9, 16]
    assert sorted(seen) == [0, 1, 2, 3]
    assert os.getpid() not in {r[1] for r in res}  # really ran in other processes


def test_interrupt_cancels_pending_jobs_and_keeps_finished_ones():
    got = {}

    def on_result(i, r):
        got[i] = r
        if len(got) == 1:
            raise KeyboardInterrupt  # as if Ctrl-C arrived after the first result

    with pytest.raises(KeyboardInterrupt):
        run_jobs(_square_slowly, list(range(12)), workers=2, progress=False,
                 on_result=on_result)
    assert 1 <= len(got) < 12  # finished (and running) jobs reported, pending ones never ran


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_on_the_ablate_command_keeps_finished_rows(small_csv, tmp_path):
    """A real SIGINT to a running `emergence-law ablate`: exit 130, no traceback, and the CSV
    holds the ablations finished before the interrupt."""
    out = tmp_path / "abl"
    cmd = [sys.executable, "-m", "emergence_law", "ablate", str(small_csv), "--task", "simtask",
           "--out", str(out), "--posterior", "mcmc", "--samples", "300", "--workers", "2"]
    # a process started in the background by a shell may inherit SIGINT ignored: restore it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    csv = out / "ablations.csv"
    deadline = time.time() + 240
    while time.time() < deadline:
        if csv.exists() and (pd.read_csv(csv)["status"] == "ok").any():
            break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("no ablation finished in time")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    t = pd.read_csv(csv)
    assert (t["status"] == "ok").sum() >= 1
    assert (t["status"] == "pending").sum() >= 1  # it really stopped early
