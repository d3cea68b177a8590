"""How isolated a sandboxed check is: namespaces (bubblewrap or unshare), seccomp, warnings.

``isolation="auto"`` picks the strongest mode that works on this machine (:func:`isolation_mode`)
and warns once (:class:`IsolationWarning`) saying what a weaker one leaves open; the seccomp
filter blocks sockets, ``execve``, ptrace and io_uring in the worker. :mod:`.sandbox` runs the
programs (:mod:`.sandbox_programs`) under the launcher chosen here.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path
from typing import Literal

from emergence_law.passuntil.sandbox_programs import WORKER

IsolationMode = Literal["auto", "bwrap", "unshare", "audit", "none"]

#: what each fallback mode leaves open (shown in the warning when it is used)
NOT_ISOLATED = {
    "bwrap": "",
    "unshare": "the file system is writable wherever this user can write (no read-only view, "
               "no private /tmp)",
    "audit": "no namespaces: the code can see and signal this user's processes, read "
             "/proc of other processes, write files wherever this user can, and a process that "
             "calls setsid() can outlive the check; network and process spawning are blocked "
             "only by seccomp and an audit hook",
    "none": "nothing but rlimits: the code can use the network, spawn processes, see and "
            "signal this user's processes and write wherever this user can",
}


class IsolationWarning(UserWarning):
    """The sandbox runs with less isolation than bubblewrap gives."""


# -- the seccomp filter -------------------------------------------------------------------------
# syscall numbers blocked in the worker: socket, ptrace, execve, execveat, process_vm_readv,
# process_vm_writev, io_uring_setup
_BLOCKED = {
    "x86_64": (0xC000003E, (41, 101, 59, 322, 310, 311, 425)),
    "aarch64": (0xC00000B7, (198, 117, 221, 281, 270, 271, 425)),
}


@functools.cache
def seccomp_filter() -> bytes | None:
    """The worker's seccomp filter (``struct sock_filter[]``), or None where it cannot be used.

    Denies (EPERM) the blocked syscalls, every x32 syscall and any call made through another
    ABI (e.g. ``int 0x80``), allows the rest. Hand-assembled: a few instructions per rule are
    easier to audit than a dependency. Tried once in a throwaway process (a container may
    forbid installing filters): None if it does not block ``socket()`` there.
    """
    prog = _assemble_filter()
    if prog is None:
        return None
    probe = WORKER.split("\n_spec = _setup()")[0] + textwrap.dedent(
        """
        _setup()
        import socket
        try:
            socket.socket()
        except PermissionError:
            sys.exit(0)
        sys.exit(3)
        """)
    spec = {"memory": 1 << 30, "cpu": 10, "fsize": 1 << 20, "seccomp": prog.hex(),
            "audit": False}
    with tempfile.TemporaryDirectory(prefix="el-sandbox-probe-") as tmp:
        Path(tmp, "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        try:
            ok = subprocess.run([sys.executable, "-I", "-c", probe], cwd=tmp, env={},
                                capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
    return prog if ok else None


def _assemble_filter() -> bytes | None:
    import struct

    machine = platform.machine()
    if not sys.platform.startswith("linux") or machine not in _BLOCKED:
        return None
    arch, numbers = _BLOCKED[machine]
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    n = len(numbers)
    # 0: ld arch; 1: jeq arch ? 2 : deny; 2: ld nr; 3: jge x32 ? deny : 4; 4..: jeq nr ? deny
    prog = [(ld, 0, 0, 4), (jeq, 0, n + 3, arch), (ld, 0, 0, 0), (jge, n + 1, 0, 0x40000000)]
    for i, nr in enumerate(numbers):
        prog.append((jeq, n - i, 0, nr))
    prog += [(ret, 0, 0, allow), (ret, 0, 0, deny)]
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)



def _python_roots() -> list[str]:
    """Folders the sandboxed interpreter needs to see (never hidden behind a tmpfs)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable),
             os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(os.path.realpath(r) for r in roots)


def _bwrap_args(workdir: str) -> list[str] | None:
    exe = shutil.which("bwrap")
    if exe is None:
        return None
    hidden = ["/run", "/var/tmp", "/var/run", os.path.expanduser("~")]
    roots = _python_roots()
    args = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for h in hidden:
        real = os.path.realpath(h)
        if os.path.isdir(h) and not os.path.islink(h) and real not in ("/", "/tmp") and not any(
                r == real or r.startswith(real + os.sep) for r in roots):
            args += ["--tmpfs", h]
    args += ["--bind", workdir, "/tmp/work", "--chdir", "/tmp/work",
             "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
             "--hostname", "sandbox", "--"]
    return args


def _unshare_args(workdir: str) -> list[str] | None:
    exe = shutil.which("unshare")
    if exe is None:
        return None
    return [exe, "--user", "--map-root-user", "--pid", "--fork", "--kill-child",
            "--mount-proc", "--net", "--ipc", "--uts", "--"]


LAUNCHERS = {"bwrap": _bwrap_args, "unshare": _unshare_args}


@functools.cache
def _works(mode: str) -> bool:
    """Whether ``mode``'s namespaces can be created on this machine (tried once)."""
    if not sys.platform.startswith("linux"):
        return False
    with tempfile.TemporaryDirectory(prefix="el-sandbox-probe-") as tmp:
        prefix = LAUNCHERS[mode](tmp)
        if prefix is None:
            return False
        try:
            return subprocess.run([*prefix, sys.executable, "-I", "-c", "pass"], cwd=tmp,
                                  capture_output=True, timeout=20, env={}).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False



def isolation_mode(mode: IsolationMode = "auto") -> str:
    """The isolation ``mode`` resolves to here: 'bwrap', 'unshare', 'audit' or 'none'.

    ``auto`` takes the strongest that works and warns (:class:`IsolationWarning`, once per
    process) when that is not bubblewrap, saying what is not isolated.
    """
    if mode == "auto":
        resolved = next((m for m in ("bwrap", "unshare") if _works(m)), "audit")
    elif mode in LAUNCHERS:
        if not _works(mode):
            raise RuntimeError(f"the sandbox mode {mode!r} does not work on this machine")
        resolved = mode
    elif mode in ("audit", "none"):
        resolved = mode
    else:
        raise ValueError(f"unknown sandbox isolation {mode!r} (auto, bwrap, unshare, audit, "
                         "none)")
    if resolved != "bwrap" or seccomp_filter() is None:
        _warn_once(resolved)
    return resolved



@functools.cache
def _warn_once(mode: str) -> None:
    missing = [NOT_ISOLATED[mode]] if NOT_ISOLATED[mode] else []
    if seccomp_filter() is None and mode != "none":
        missing.append("no seccomp filter here: the code can open sockets (Unix ones too, "
                       "outside a network namespace) and run programs")
    warnings.warn(f"code sandbox runs in {mode!r} mode: " + "; ".join(missing),
                  IsolationWarning, stacklevel=3)

