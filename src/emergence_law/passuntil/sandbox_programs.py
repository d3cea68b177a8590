"""The two programs a sandboxed check runs: the worker (untrusted code) and the supervisor.

Both are run with ``python -I -c`` inside the isolation of :mod:`.isolation` and read their
inputs from the working folder (``spec.json``, ``solution.py``, ``test.py``, ``prompt.py``);
see :mod:`.sandbox` for why there are two and what crosses between them (plain data only).
Kept as text, not imported code: they must run in a fresh interpreter that imports nothing of
this package.
"""

from __future__ import annotations

import textwrap

# How the two talk: each message is its length (8 bytes, big-endian), then its JSON. Both
# programs define these two functions from this one text (``#FRAMING`` in them is replaced).
_FRAMING = textwrap.dedent(
    r'''
    import json as _json, os
    def _write_frame(fd, obj):
        data = _json.dumps(obj).encode()
        os.write(fd, len(data).to_bytes(8, "big"))
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    def _read_exact(fd, size):
        parts = []
        while size:
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                return None
            parts.append(chunk)
            size -= len(chunk)
        return b"".join(parts)
    '''
).lstrip("\n")

WORKER = textwrap.dedent(
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
    #FRAMING
    def _send(obj):
        _write_frame(_wr, obj)
    def _recv():
        head = _read_exact(_rd, 8)
        body = None if head is None else _read_exact(_rd, int.from_bytes(head, "big"))
        return None if body is None else _json.loads(body)
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
).replace("#FRAMING\n", _FRAMING)

SUPERVISOR = textwrap.dedent(
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
    #FRAMING
    def send(obj):
        _write_frame(req_w, obj)
    def recv():
        head = _read_exact(rep_r, 8)
        if head is None:
            raise WorkerGone()
        size = int.from_bytes(head, "big")
        if size > MAX_MESSAGE:
            raise WorkerGone("a reply of " + str(size) + " bytes")
        body = _read_exact(rep_r, size)
        if body is None:
            raise WorkerGone()
        msg = json.loads(body)
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
).replace("#FRAMING\n", _FRAMING)
