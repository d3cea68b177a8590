"""Make a helper process die with the process that started it.

Why: a local process pool's fork server and workers outlive a driver killed with ``kill -9``
(nothing tells them: the pool's queues stay open in every worker), and so does multiprocessing's
resource tracker, which waits for them. Each of them calls :func:`die_with_parent` as it starts
(the fork server through a preload module, the workers in the pool initializer): on Linux the
kernel then sends SIGKILL when the parent ends (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon
thread polls the parent. The driver dies -> its fork server -> the workers; the resource tracker
then sees its pipe close and exits by itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
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
