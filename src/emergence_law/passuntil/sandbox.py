"""Run untrusted model-written Python in a throwaway subprocess with limits.

Why a subprocess and not ``exec`` in-process: a completion can loop forever, allocate all memory,
call ``os._exit`` or segfault the interpreter; none of that may stop a PassUntil run. Each program
runs as ``python -I`` (isolated: no user site, no PYTHON* variables) in a fresh temporary
directory that is deleted afterwards, in its own session (process group) so a timeout kills it
and everything it spawned.

Passing means the tests ran to their end: the parent hands the child a random nonce on stdin
and the prelude prints it only after the program (prompt + completion + tests) returned, so a
completion that calls ``os._exit(0)`` or ``sys.exit(0)`` early does not pass.

Limits: a prelude sets ``RLIMIT_AS`` (memory), ``RLIMIT_CPU``, ``RLIMIT_FSIZE`` and
``RLIMIT_CORE`` in the child before the untrusted code runs (set inside the child rather than in
``preexec_fn``, which is unsafe when the parent runs checks from several threads). The wall-clock
timeout is enforced by the parent with ``killpg(SIGKILL)``.

Network: with ``network="auto"`` the child runs in a new, empty network namespace (``unshare
-n``, or ``unshare -rn`` as an unprivileged user) when that works on this machine; there is then
no interface but a down loopback, so no connection can be made. Where namespaces are not
available it falls back to ``"audit"``: an audit hook (PEP 578) in the prelude raises on every
socket creation and on spawning processes. The audit hook is defence in depth, not a security
boundary (ctypes can bypass it); the namespace is the boundary. ``network_isolation()`` says which
one is in use. Neither is a substitute for a container when running hostile code.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from typing import Literal

NetworkMode = Literal["auto", "unshare", "audit", "none"]

_PRELUDE = textwrap.dedent(
    """
    import os as _o, resource as _r, sys as _s
    _nonce = _s.stdin.readline().strip()
    _fd = _o.dup(1)  # the nonce goes here; the program's own output goes nowhere
    _o.dup2(_o.open(_o.devnull, _o.O_WRONLY), 1)
    def _lim(which, value):
        try:
            _r.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass
    _lim(_r.RLIMIT_AS, {memory})
    _lim(_r.RLIMIT_CPU, {cpu})
    _lim(_r.RLIMIT_FSIZE, {fsize})
    _lim(_r.RLIMIT_CORE, 0)
    if {audit}:
        def _hook(event, args, _blocked=("socket.", "subprocess.Popen", "os.system",
                                          "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn")):
            if event.startswith(_blocked):
                raise PermissionError("sandbox: " + event + " is not allowed")
        _s.addaudithook(_hook)
    del _lim, _r
    _src = open("solution.py", encoding="utf-8").read()
    exec(compile(_src, "solution.py", "exec"), {{"__name__": "__main__"}})
    _s.stdout.flush()
    _o.write(_fd, ("\\n" + _nonce + "\\n").encode())
    """
)


@dataclass(frozen=True)
class SandboxResult:
    """What happened to one program: ``status`` is passed, failed, timeout, memory or error."""

    status: str
    returncode: int | None
    duration: float
    stderr_tail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@functools.lru_cache(maxsize=1)
def _unshare_prefix() -> tuple[str, ...] | None:
    """The command prefix that gives a child an empty network namespace here, or None."""
    exe = shutil.which("unshare")
    if exe is None or not sys.platform.startswith("linux"):
        return None
    for flags in (("-n",), ("-r", "-n")):
        try:
            ok = subprocess.run([exe, *flags, "--", sys.executable, "-c", "pass"],
                                capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return (exe, *flags, "--")
    return None


def network_isolation(mode: NetworkMode = "auto") -> str:
    """The isolation ``mode`` resolves to on this machine: 'unshare', 'audit' or 'none'."""
    if mode == "auto":
        return "unshare" if _unshare_prefix() is not None else "audit"
    if mode == "unshare" and _unshare_prefix() is None:
        raise RuntimeError("network namespaces (unshare -n) are not available here")
    return mode


def run_sandboxed(
    code: str,
    *,
    timeout: float = 5.0,
    memory_mb: int = 512,
    network: NetworkMode = "auto",
    python: str | None = None,
) -> SandboxResult:
    """Run ``code`` as a program; it passes when it exits with status 0 within the limits."""
    mode = network_isolation(network)
    prelude = _PRELUDE.format(
        memory=int(memory_mb) * 1024 * 1024,
        cpu=max(1, int(timeout) + 1),
        fsize=64 * 1024 * 1024,
        audit=mode == "audit",
    )
    prefix = _unshare_prefix() if mode == "unshare" else None
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "PYTHONHASHSEED": "0"}
    nonce = secrets.token_hex(16)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="el-sandbox-") as tmp, \
            tempfile.TemporaryFile() as errlog:  # a file, capped by RLIMIT_FSIZE (a pipe is not)
        with open(os.path.join(tmp, "solution.py"), "w", encoding="utf-8") as fh:
            fh.write(code)
        cmd = [*(prefix or ()), python or sys.executable, "-I", "-c", prelude]
        try:
            proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=errlog,
                                    start_new_session=True)
        except OSError as exc:
            return SandboxResult("error", None, time.perf_counter() - start, str(exc))
        try:
            out, _ = proc.communicate(nonce.encode() + b"\n", timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return SandboxResult("timeout", None, time.perf_counter() - start,
                                 f"killed after {timeout:g} s wall clock")
        finally:
            if proc.poll() is None:  # interrupted (e.g. Ctrl-C): never leave it running
                _kill_group(proc)
        _kill_group(proc)  # anything it left behind in its group
        errlog.seek(max(0, errlog.seek(0, 2) - 2000))
        tail = errlog.read().decode("utf-8", "replace")
    duration = time.perf_counter() - start
    rc = proc.returncode
    finished = nonce.encode() in out[-200:]
    if rc == 0 and finished:
        return SandboxResult("passed", rc, duration, tail)
    if "MemoryError" in tail or rc in (-signal.SIGKILL, -signal.SIGSEGV) and "Memory" in tail:
        return SandboxResult("memory", rc, duration, tail)
    if rc == -signal.SIGXCPU:
        return SandboxResult("timeout", rc, duration, tail or "CPU time limit")
    if rc == 0:
        tail = (tail + "\nexited with status 0 before the tests finished").strip()
    return SandboxResult("failed", rc, duration, tail)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
