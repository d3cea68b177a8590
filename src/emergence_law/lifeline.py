"""Make a helper process die with the process that started it.

Why: a local process pool's fork server and workers outlive a driver killed with ``kill -9``
(nothing tells them: the pool's queues stay open in every worker), and so does multiprocessing's
resource tracker, which waits for them. Each of them calls :func:`die_with_parent` as it starts
(the fork server through a preload module, the workers in the pool initializer: both in
:mod:`emergence_law.pool`): on Linux the
kernel then sends SIGKILL when the parent ends (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon
thread polls the parent. The driver dies -> its fork server -> the workers; the resource tracker
then sees its pipe close and exits by itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def die_with_parent(poll_s: float = 0.5) -> str:
    """Arrange for this process to be killed when its parent ends; say how ('prctl', 'thread').

    The parent is the process (on Linux, the thread) that started this one: call it first thing
    in the child. If the parent is already gone, this process exits at once.
    """
    parent = os.getppid()
    how = "thread"
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                how = "prctl"
    if os.getppid() != parent or parent == 1:  # the parent ended before the line above
        os._exit(1)
    if how == "thread":
        threading.Thread(target=_watch, args=(parent, poll_s), daemon=True,
                         name="die-with-parent").start()
    return how


def _watch(parent: int, poll_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_s)
    os._exit(1)


_REAPER = r"""
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))  # a clean close: nothing to do
driver = int(sys.argv[1])

def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        return f[0], int(f[1]), f[19]  # state, ppid, start time
    except (OSError, IndexError, ValueError):
        return None

seen = {}
while True:
    s = stat(driver)
    if s is None or s[0] == "Z":
        break
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != os.getpid():
            st = stat(int(p))
            if st is not None:
                kids.setdefault(st[1], []).append((int(p), st[2]))
    todo = [driver]
    while todo:
        for pid, start in kids.get(todo.pop(), []):
            if pid not in seen:
                seen[pid] = start
            todo.append(pid)
    time.sleep(1.0)
for sig, pause in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 0.0)):
    left = [p for p, start in seen.items() if (stat(p) or ("Z",))[0] != "Z"
            and stat(p)[2] == start]
    for p in left:
        try:
            os.kill(p, sig)
        except OSError:
            pass
    if not left:
        break
    time.sleep(pause)
"""


def start_reaper() -> subprocess.Popen | None:
    """Start a watchdog that, if this process dies without cleaning up (``kill -9``), ends every
    process this one started (children and grandchildren, noted while it lived; a pid is only
    signalled if its start time still matches). Terminate it to stand it down. Linux only.

    For services that do not die with their starter, e.g. the dashboard and runtime-env agents
    of a local Ray instance. Best effort: processes started less than a second before the death
    may be missed.
    """
    if not sys.platform.startswith("linux"):
        return None
    return subprocess.Popen([sys.executable, "-I", "-c", _REAPER, str(os.getpid())],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
