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
program's own word: fine for running code, not for grading it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

IsolationMode = Literal["auto", "bwrap", "unshare", "audit", "none"]
#: the old name of the option (``network`` in task files); ``none`` turns every layer off
NetworkMode = IsolationMode

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
    probe = _WORKER.split("\n_spec = _setup()")[0] + textwrap.dedent(
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


# -- the programs that run inside --------------------------------------------------------------
# Both are run with ``python -I -c``; they read their inputs from the working folder.
_WORKER = textwrap.dedent(
    r'''
    import os, sys
    def _setup():
        import ctypes, json, resource
        spec = json.load(open("spec.json", encoding="utf-8"))
        for name, value in (("RLIMIT_AS", spec["memory"]), ("RLIMIT_CPU", spec["cpu"]),
                            ("RLIMIT_FSIZE", spec["fsize"]), ("RLIMIT_CORE", 0)):
            try:
                resource.setrlimit(getattr(resource, name), (value, value))
            except (ValueError, OSError):
                pass
        libc = ctypes.CDLL(None, use_errno=True)
        if spec["seccomp"]:
            prog = bytes.fromhex(spec["seccomp"])
            class Prog(ctypes.Structure):
                _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
            buf = ctypes.create_string_buffer(prog, len(prog))
            fprog = Prog(len(prog) // 8, ctypes.cast(buf, ctypes.c_char_p))
            if libc.prctl(38, 1, 0, 0, 0) != 0 or \
                    libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # NO_NEW_PRIVS, SECCOMP
                raise OSError(ctypes.get_errno(), "could not install the seccomp filter")
        if spec["audit"]:
            blocked = ("socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
                       "os.spawn", "pty.spawn", "os.fork", "os.forkpty")
            def hook(event, args):
                if event.startswith(blocked):
                    raise PermissionError("sandbox: " + event + " is not allowed")
            sys.addaudithook(hook)
        return spec
    _spec = _setup()
    _rd, _wr = int(sys.argv[1]), int(sys.argv[2])
    del _setup
    import json as _json, math as _math, numbers as _numbers, traceback as _tb
    def _enc(x, depth=0):
        if depth > 200:
            raise ValueError("nested too deeply")
        if x is None or isinstance(x, bool):
            return x
        if isinstance(x, _numbers.Integral):
            return int(x)
        if isinstance(x, float) or isinstance(x, _numbers.Real) and not isinstance(x, complex):
            x = float(x)
            return x if _math.isfinite(x) else {"f": repr(x)}
        if isinstance(x, complex):
            return {"c": [_enc(x.real), _enc(x.imag)]}
        if isinstance(x, str):
            return str.__str__(x)
        if isinstance(x, (bytes, bytearray)):
            return {"b": bytes(x).hex()}
        if isinstance(x, list):
            return [_enc(v, depth + 1) for v in x]
        if isinstance(x, tuple):
            return {"t": [_enc(v, depth + 1) for v in x]}
        if isinstance(x, dict):
            return {"d": [[_enc(k, depth + 1), _enc(v, depth + 1)] for k, v in x.items()]}
        if isinstance(x, (set, frozenset)):
            return {"fs" if isinstance(x, frozenset) else "s": [_enc(v, depth + 1) for v in x]}
        raise TypeError("a " + type(x).__name__ + " cannot leave the sandbox (plain data only)")
    def _dec(x):
        if isinstance(x, list):
            return [_dec(v) for v in x]
        if not isinstance(x, dict):
            return x
        (tag, v), = x.items()
        if tag == "f": return float(v)
        if tag == "c": return complex(_dec(v[0]), _dec(v[1]))
        if tag == "b": return bytes.fromhex(v)
        if tag == "t": return tuple(_dec(e) for e in v)
        if tag == "d": return {_dec(k): _dec(e) for k, e in v}
        if tag == "s": return {_dec(e) for e in v}
        if tag == "fs": return frozenset(_dec(e) for e in v)
        raise ValueError("bad message")
    def _send(obj):
        data = _json.dumps(obj).encode()
        os.write(_wr, len(data).to_bytes(8, "big"))
        view = memoryview(data)
        while view:
            view = view[os.write(_wr, view):]
    def _recv():
        head = b""
        while len(head) < 8:
            chunk = os.read(_rd, 8 - len(head))
            if not chunk:
                return None
            head += chunk
        size, parts = int.from_bytes(head, "big"), []
        while size:
            chunk = os.read(_rd, min(size, 1 << 20))
            if not chunk:
                return None
            parts.append(chunk)
            size -= len(chunk)
        return _json.loads(b"".join(parts))
    _devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(_devnull, 0)
    os.dup2(_devnull, 1)  # the program's prints go nowhere
    _g = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        _src = open("solution.py", encoding="utf-8").read()
        exec(compile(_src, "solution.py", "exec"), _g)
        sys.stdout.flush()
        _f = _g.get(_spec["entry_point"]) if _spec["entry_point"] else None
        if _spec["entry_point"] and not callable(_f):
            raise NameError(_spec["entry_point"] + " is not defined by the program")
    except BaseException as exc:
        _err = [type(exc).__name__, str(exc)[:500], ""]
        try:
            _err[2] = _tb.format_exc()[-3000:]
        except BaseException:
            pass
    else:
        _err = None
    if _err is not None:
        _send({"e": _err})
        os._exit(1)
    _send({"ready": True})
    while True:
        _msg = _recv()
        if _msg is None:
            os._exit(0)
        _reply = _err = None
        try:
            _reply = {"r": _enc(_f(*_dec(_msg["args"]), **_dec(_msg["kwargs"])))}
        except BaseException as exc:  # built after the except: its frames (a memory bomb's
            _err = [type(exc).__name__, str(exc)[:500], ""]  # list) are freed by then
            try:
                _err[2] = _tb.format_exc()[-3000:]
            except BaseException:
                pass
        _send(_reply or {"e": _err})
    '''
)

_SUPERVISOR = textwrap.dedent(
    r'''
    import builtins, ctypes, json, os, resource, subprocess, sys, traceback
    try:  # PR_SET_DUMPABLE 0: no /proc/<pid>/mem, /proc/<pid>/fd or ptrace for the worker
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
    except (AttributeError, OSError):  # not Linux
        pass
    spec = json.load(open("spec.json", encoding="utf-8"))
    for name, value in (("RLIMIT_AS", spec["memory"] + (256 << 20)), ("RLIMIT_CORE", 0)):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass
    test = open("test.py", encoding="utf-8").read() if spec["entry_point"] else ""
    prompt = open("prompt.py", encoding="utf-8").read() if spec["entry_point"] else ""
    worker = open("worker.py", encoding="utf-8").read()
    for name in ("test.py", "prompt.py"):  # the worker has no use for the tests: not theirs to read
        os.unlink(name)
    out = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    MAX_MESSAGE = 16 << 20
    def verdict(status, detail=""):
        out.write(json.dumps({"status": status, "detail": detail[-2000:]}) + "\n")
        out.flush()
        sys.exit(0)
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-I", "-c", worker, str(req_r), str(rep_w)],
                            pass_fds=(req_r, rep_w), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, env={})
    os.close(req_r)
    os.close(rep_w)
    class WorkerGone(Exception):
        pass
    def dec(x, depth=0):
        if depth > 200:
            raise ValueError("nested too deeply")
        if isinstance(x, list):
            return [dec(v, depth + 1) for v in x]
        if not isinstance(x, dict):
            if x is None or isinstance(x, (bool, int, float, str)):
                return x
            raise ValueError("bad message")
        (tag, v), = x.items()
        if tag == "f": return float(v)
        if tag == "c": return complex(dec(v[0]), dec(v[1]))
        if tag == "b": return bytes.fromhex(v)
        if tag == "t": return tuple(dec(e, depth + 1) for e in v)
        if tag == "d": return {dec(k, depth + 1): dec(e, depth + 1) for k, e in v}
        if tag == "s": return {dec(e, depth + 1) for e in v}
        if tag == "fs": return frozenset(dec(e, depth + 1) for e in v)
        raise ValueError("bad message")
    def enc(x, depth=0):
        if depth > 200:
            raise ValueError("nested too deeply")
        if x is None or isinstance(x, (bool, int, str)):
            return x
        if isinstance(x, float):
            return x if x == x and x not in (float("inf"), float("-inf")) else {"f": repr(x)}
        if isinstance(x, complex): return {"c": [enc(x.real), enc(x.imag)]}
        if isinstance(x, (bytes, bytearray)): return {"b": bytes(x).hex()}
        if isinstance(x, list): return [enc(v, depth + 1) for v in x]
        if isinstance(x, tuple): return {"t": [enc(v, depth + 1) for v in x]}
        if isinstance(x, dict): return {"d": [[enc(k, depth + 1), enc(v, depth + 1)]
                                               for k, v in x.items()]}
        if isinstance(x, (set, frozenset)):
            return {"fs" if isinstance(x, frozenset) else "s": [enc(v, depth + 1) for v in x]}
        raise TypeError("the test passed a " + type(x).__name__ + " to the candidate "
                        "(only plain data crosses into the sandboxed worker)")
    def send(obj):
        data = json.dumps(obj).encode()
        os.write(req_w, len(data).to_bytes(8, "big"))
        view = memoryview(data)
        while view:
            view = view[os.write(req_w, view):]
    def recv():
        head = b""
        while len(head) < 8:
            chunk = os.read(rep_r, 8 - len(head))
            if not chunk:
                raise WorkerGone()
            head += chunk
        size = int.from_bytes(head, "big")
        if size > MAX_MESSAGE:
            raise WorkerGone("a reply of " + str(size) + " bytes")
        parts = []
        while size:
            chunk = os.read(rep_r, min(size, 1 << 20))
            if not chunk:
                raise WorkerGone()
            parts.append(chunk)
            size -= len(chunk)
        msg = json.loads(b"".join(parts))
        if not isinstance(msg, dict) or len(msg) != 1:
            raise ValueError("bad message")
        return msg
    def gone_status(extra=""):
        try:
            rc = proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        if rc == -24:  # SIGXCPU
            verdict("timeout", "CPU time limit")
        why = "the program ended before the tests finished (exit status %s)" % rc
        verdict("failed", (extra + "\n" + why).strip())
    def raised(msg):
        name, text, tb = msg["e"]
        sys.stderr.write(str(tb)[-3000:])
        sys.stderr.flush()
        return str(name), str(name) + ": " + str(text)
    try:
        first = recv()
    except WorkerGone as exc:
        gone_status(str(exc))
    except ValueError:
        verdict("failed", "the worker sent a malformed message")
    if "e" in first:
        name, line = raised(first)
        verdict("memory" if name == "MemoryError" else "failed", line)
    if first != {"ready": True}:
        verdict("failed", "the worker broke the protocol")
    if not spec["entry_point"]:  # a whole program: it returned
        verdict("passed")
    class CandidateError(Exception):
        """The candidate raised an exception that is not a builtin one."""
    memory_hit = []
    def candidate(*args, **kwargs):
        send({"args": enc(list(args)), "kwargs": enc(dict(kwargs))})
        msg = recv()
        if "r" in msg:
            return dec(msg["r"])
        if "e" in msg:
            name, line = raised(msg)
            if name == "MemoryError":
                memory_hit.append(line)
            cls = getattr(builtins, name, None)
            if isinstance(cls, type) and issubclass(cls, Exception):
                try:
                    raise cls(line)
                except TypeError:
                    pass
            raise CandidateError(line)
        raise ValueError("bad message")
    ns = {"__name__": "__main__"}
    for stub in (prompt + "\n    pass\n", prompt, ""):  # the prompt's helpers, body stubbed
        try:
            code = compile(stub, "prompt.py", "exec")
        except (SyntaxError, ValueError):
            continue
        try:
            exec(code, ns)
        except Exception:
            ns = {"__name__": "__main__"}
            continue
        break
    ns[spec["entry_point"]] = candidate
    try:
        exec(compile(test, "test.py", "exec"), ns)
        ns["check"](candidate)
    except WorkerGone as exc:
        gone_status(str(exc))
    except BaseException as exc:
        if memory_hit or isinstance(exc, MemoryError):
            verdict("memory", (memory_hit or [repr(exc)])[0])
        sys.stderr.write(traceback.format_exc()[-3000:])
        verdict("failed", (type(exc).__name__ + ": " + str(exc))[:500])
    verdict("passed")
    '''
)


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


_PREFIXES = {"bwrap": _bwrap_args, "unshare": _unshare_args}


@functools.cache
def _works(mode: str) -> bool:
    """Whether ``mode``'s namespaces can be created on this machine (tried once)."""
    if not sys.platform.startswith("linux"):
        return False
    with tempfile.TemporaryDirectory(prefix="el-sandbox-probe-") as tmp:
        prefix = _PREFIXES[mode](tmp)
        if prefix is None:
            return False
        try:
            return subprocess.run([*prefix, sys.executable, "-I", "-c", "pass"], cwd=tmp,
                                  capture_output=True, timeout=20, env={}).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


_LEGACY = {"unshare": "unshare", "audit": "audit", "none": "none"}


def isolation_mode(mode: IsolationMode = "auto") -> str:
    """The isolation ``mode`` resolves to here: 'bwrap', 'unshare', 'audit' or 'none'.

    ``auto`` takes the strongest that works and warns (:class:`IsolationWarning`, once per
    process) when that is not bubblewrap, saying what is not isolated.
    """
    if mode == "auto":
        resolved = next((m for m in ("bwrap", "unshare") if _works(m)), "audit")
    elif mode in _PREFIXES:
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


def network_isolation(mode: IsolationMode = "auto") -> str:
    """Kept for callers of the old API: the same as :func:`isolation_mode`."""
    return isolation_mode(mode)


@functools.cache
def _warn_once(mode: str) -> None:
    missing = [NOT_ISOLATED[mode]] if NOT_ISOLATED[mode] else []
    if seccomp_filter() is None and mode != "none":
        missing.append("no seccomp filter here: the code can open sockets (Unix ones too, "
                       "outside a network namespace) and run programs")
    warnings.warn(f"code sandbox runs in {mode!r} mode: " + "; ".join(missing),
                  IsolationWarning, stacklevel=3)


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
                 "worker.py": _WORKER, "spec.json": json.dumps(spec)}
        for name, text in files.items():
            Path(workdir, name).write_text(text, encoding="utf-8")
        prefix = _PREFIXES[mode](workdir) if mode in _PREFIXES else []
        cmd = [*(prefix or []), python or sys.executable, "-I", "-c", _SUPERVISOR]
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
