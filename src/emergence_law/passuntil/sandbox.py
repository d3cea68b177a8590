"""Run untrusted model-written Python in an OS-isolated throwaway sandbox, and grade it there.

Why two processes and not ``exec`` of prompt + completion + tests in one: code in the same
interpreter as the tests can forge any "tests finished" signal (read the harness's nonce, write
to its result descriptor, ``os._exit(0)`` early, patch ``__eq__``). So a check runs as:

* a **supervisor** (trusted harness code, ``python -I``): it holds the only channel to the
  parent (a file on its stdout), runs the task's *test code* and decides the verdict;
* a **worker** (a second ``python -I``, child of the supervisor): it runs prompt + completion
  and answers calls of the entry point. Arguments and return values cross between them as
  plain data only (None, bool, int, float, str, bytes, complex, list, tuple, dict, set), so
  the test's comparisons run in the supervisor on values the completion cannot subvert (a
  returned object with a rigged ``__eq__`` cannot leave the worker). The worker inherits no
  descriptor to the parent and nothing of the supervisor's memory is readable to it (the
  supervisor is made non-dumpable: no ``/proc/<pid>/mem``, ``/proc/<pid>/fd``, ptrace).

Isolation of both (``isolation="auto"`` picks the first that works here):

* ``bwrap`` (bubblewrap): new user, PID, network, IPC, UTS and cgroup namespaces; the system
  mounted read-only; a private tmpfs ``/tmp`` with the throwaway folder as ``/tmp/work``
  (the only writable place); ``/run``, ``/var/tmp`` and the home folder hidden; a fresh
  ``/proc`` showing only the sandbox's processes; an empty environment; killed with its
  parent (``--die-with-parent``), and when its PID 1 ends every process in it ends.
* ``unshare``: the same namespaces (user, PID with a fresh ``/proc``, network, IPC, UTS)
  without bubblewrap, but the file system stays writable wherever the user can write.
* ``audit``: no namespaces (a warning says what is not isolated): rlimits, the seccomp filter
  and a PEP 578 audit hook only.

In every mode the worker runs under rlimits (memory, CPU, file size, no core) and a seccomp
filter (Linux x86-64/aarch64): no ``socket()`` (no network, no host Unix socket), no
``execve`` (no subprocess, no ``system()``, not even through ctypes), no ptrace,
``process_vm_*`` or io_uring. The wall-clock limit is kept by the parent: it waits on the
sandbox process (never on pipes: the outputs are files) and kills its process group, and so
the namespace, at the limit.

:func:`run_check` grades a completion (what :class:`~.checkers.CodeExecution` uses);
:func:`run_sandboxed` runs a whole program and passes when it returns (its verdict is the
program's own word: fine for running code, not for grading it). The isolation is chosen in
:mod:`.isolation`; the two programs' text is :mod:`.sandbox_programs`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from emergence_law.passuntil.isolation import (
    LAUNCHERS,
    NOT_ISOLATED,
    IsolationMode,
    IsolationWarning,
    isolation_mode,
    seccomp_filter,
)
from emergence_law.passuntil.sandbox_programs import SUPERVISOR, WORKER

__all__ = ["NOT_ISOLATED", "IsolationMode", "IsolationWarning", "SandboxResult", "isolation_mode",
           "run_check", "run_sandboxed", "seccomp_filter"]


@dataclass(frozen=True)
class SandboxResult:
    """What happened to one program: ``status`` is passed, failed, timeout, memory or error."""

    status: str
    returncode: int | None
    duration: float
    stderr_tail: str = ""
    isolation: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def run_check(prompt: str, completion: str, test: str, entry_point: str, *,
              timeout: float = 5.0, memory_mb: int = 512,
              isolation: IsolationMode = "auto") -> SandboxResult:
    """Grade a HumanEval-style completion: ``check(candidate)`` from ``test`` runs in the
    supervisor, ``candidate`` is ``entry_point`` of ``prompt + completion`` in the worker."""
    return _run(prompt + completion, entry_point, test, prompt, timeout=timeout,
                memory_mb=memory_mb, isolation=isolation)


def run_sandboxed(code: str, *, timeout: float = 5.0, memory_mb: int = 512,
                  network: IsolationMode = "auto", isolation: IsolationMode | None = None,
                  python: str | None = None) -> SandboxResult:
    """Run ``code`` as a program in the sandbox; it passes when it returns within the limits.

    The program's own word decides (it could forge its end): use :func:`run_check` to grade.
    """
    return _run(code, "", "", "", timeout=timeout, memory_mb=memory_mb,
                isolation=isolation or network, python=python)


def _run(code: str, entry_point: str, test: str, prompt: str, *, timeout: float,
         memory_mb: int, isolation: IsolationMode, python: str | None = None) -> SandboxResult:
    mode = isolation_mode(isolation)
    seccomp = seccomp_filter() if mode != "none" else None
    spec = {"memory": int(memory_mb) << 20, "cpu": max(1, int(timeout) + 1),
            "fsize": 16 << 20, "entry_point": entry_point, "audit": mode in ("audit",),
            "seccomp": seccomp.hex() if seccomp else ""}
    start = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="el-sandbox-")
    try:
        files = {"solution.py": code, "test.py": test, "prompt.py": prompt,
                 "worker.py": WORKER, "spec.json": json.dumps(spec)}
        for name, text in files.items():
            Path(workdir, name).write_text(text, encoding="utf-8")
        prefix = LAUNCHERS[mode](workdir) if mode in LAUNCHERS else []
        cmd = [*(prefix or []), python or sys.executable, "-I", "-c", SUPERVISOR]
        # outputs are files, never pipes: nothing the code leaves running can hold the
        # parent up, and a file is capped by RLIMIT_FSIZE
        with tempfile.TemporaryFile() as outlog, tempfile.TemporaryFile() as errlog:
            try:
                proc = subprocess.Popen(cmd, cwd=workdir, env={}, stdin=subprocess.DEVNULL,
                                        stdout=outlog, stderr=errlog, start_new_session=True)
            except OSError as exc:
                return SandboxResult("error", None, time.perf_counter() - start, str(exc), mode)
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_group(proc)  # the sandbox (and its namespace) and anything left in it
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
            errlog.seek(max(0, errlog.seek(0, 2) - 3000))
            tail = errlog.read().decode("utf-8", "replace")
            outlog.seek(0)
            lines = outlog.read(1 << 16).decode("utf-8", "replace").strip().splitlines()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    duration = time.perf_counter() - start
    if timed_out:
        return SandboxResult("timeout", None, duration, f"killed after {timeout:g} s wall clock",
                             mode)
    try:
        result = json.loads(lines[-1])
        status, detail = str(result["status"]), str(result.get("detail", ""))
    except (IndexError, ValueError, KeyError, TypeError):
        # the supervisor died without a word: the program killed it (or its own limits did)
        status, detail = "failed", f"the sandbox gave no verdict (exit status {proc.returncode})"
    if status not in ("passed", "failed", "timeout", "memory"):
        status = "error"
    return SandboxResult(status, proc.returncode, duration, (tail + "\n" + detail).strip(),
                         mode)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
