"""The SQLite results store: identity, exactly-once results, recovery, migration, records."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from emergence_law.errors import DataError
from emergence_law.store import (
    ResultStore,
    canonical_json,
    job_id,
    owner_alive,
    process_owner,
)

DEF = {"kind": "fewshot", "model": "m", "checkpoint": "step1", "task": "t", "shots": 5}


def test_job_id_is_the_hash_of_the_full_definition() -> None:
    same = {"shots": 5, "task": "t", "checkpoint": "step1", "model": "m", "kind": "fewshot"}
    assert job_id(DEF) == job_id(same)  # key order does not matter
    assert job_id(DEF) != job_id({**DEF, "shots": 6})  # any changed value is another job
    assert job_id(DEF) != job_id({**DEF, "hparams": {"lr": 1e-4}})
    assert canonical_json({"b": 1, "a": [1.5, None]}) == '{"a":[1.5,null],"b":1}'


def test_result_written_once_and_never_twice(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as s:
        [jid] = s.add_jobs([DEF])
        assert s.add_jobs([DEF]) == [jid]  # registering again changes nothing
        assert s.counts() == {"pending": 1, "running": 0, "done": 0, "failed": 0}
        assert s.mark_running(jid)
        assert s.record_result(DEF, [{"value": 0.3}, {"value": 0.4}], seconds=1.5)
        assert not s.record_result(DEF, [{"value": 0.9}])  # second result refused
        assert [r["value"] for r in s.observation_rows()] == [0.3, 0.4]
        assert not s.mark_running(jid)  # a done job cannot be claimed again
        s.record_failure(DEF, "late error")  # a done job stays done
        assert s.status_of(jid) == "done"
        assert s.mark_pending([jid]) == 0
        jobs = s.jobs()
        assert jobs.loc[0, "error"] is None and jobs.loc[0, "seconds"] == 1.5


def test_observation_table_is_every_stored_row_in_schema_order(tmp_path: Path) -> None:
    from emergence_law.observations import OBSERVATION_COLUMNS

    with ResultStore(tmp_path / "s.sqlite") as s:
        s.record_result(DEF, [{"value": 0.3, "task": "t"}, {"value": 0.4, "extra": 1}])
        s.record_failure({**DEF, "shots": 6}, "boom")  # a failed job has no rows
        table = s.observation_table()
    assert list(table.columns[:len(OBSERVATION_COLUMNS)]) == OBSERVATION_COLUMNS
    assert table["value"].tolist() == [0.3, 0.4] and "extra" in table.columns


def test_failure_recorded_then_retried(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as s:
        [jid] = s.add_jobs([DEF])
        s.mark_running(jid)
        s.record_failure(DEF, "RuntimeError: boom", "Traceback ...")
        row = s.jobs("failed").iloc[0]
        assert row.error == "RuntimeError: boom" and row.traceback == "Traceback ..."
        assert row.attempts == 1
        assert s.reset_failed([jid]) == 1
        assert s.status_of(jid) == "pending"
        s.mark_running(jid)
        assert s.record_result(DEF, [{"value": 1.0}])
        assert s.jobs().iloc[0].attempts == 2


def test_a_failing_write_leaves_nothing_behind(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as s:
        s.add_jobs([DEF])
        with pytest.raises(TypeError):
            s.record_result(DEF, [{"value": object()}])
        with pytest.raises(RuntimeError), s.transaction() as c:
            c.execute("UPDATE jobs SET status='done'")
            raise RuntimeError("crash inside a transaction")
        assert s.counts()["pending"] == 1
        assert s.observation_rows() == []


def _dead_pid() -> int:
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_stale_running_jobs_are_released(tmp_path: Path) -> None:
    host, pid, start, boot = process_owner().split(":")
    jobs = [{**DEF, "shots": i} for i in range(5)]
    with ResultStore(tmp_path / "s.sqlite") as s:
        ids = s.add_jobs(jobs)
        s.mark_running(ids[0], owner=f"{host}:{_dead_pid()}:{start}:{boot}")  # ended
        s.mark_running(ids[1])  # owned by this (live) process
        s.mark_running(ids[2], owner=f"{host}:{pid}:{int(start) - 1}:{boot}")  # a reused pid
        s.mark_running(ids[3], owner=f"{host}:{pid}:{start}:another-boot")  # before a reboot
        s.mark_running(ids[4], owner=f"other-host:{pid}:{start}:{boot}")  # cannot be checked
        assert s.release_stale() == 3
        assert [s.status_of(j) for j in ids] == ["pending", "running", "pending", "pending",
                                                 "running"]
        assert "interrupted" in s.jobs().set_index("job_id").loc[ids[0], "error"]
    assert owner_alive(f"{host}:{pid}") and not owner_alive(f"{host}:{_dead_pid()}")  # old form


def test_a_dead_owners_jobs_are_reclaimed_when_the_store_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    host, _, start, boot = process_owner().split(":")
    with ResultStore(path) as s:
        [jid] = s.add_jobs([DEF])
        s.mark_running(jid, owner=f"{host}:{_dead_pid()}:{start}:{boot}")
    with ResultStore(path, reclaim=False) as s:
        assert s.status_of(jid) == "running"
    with ResultStore(path) as s:  # e.g. `sweep status`: no need to wait for the next run
        assert s.status_of(jid) == "pending"


def _race(path: str, n: int, out: multiprocessing.Queue) -> None:
    with ResultStore(path) as s:
        wins = sum(s.record_result({"kind": "t", "i": i}, [{"value": i}]) for i in range(n))
    out.put(wins)


def test_two_processes_racing_write_each_result_once(tmp_path: Path) -> None:
    path = str(tmp_path / "race.sqlite")
    ResultStore(path).close()
    # fork: each process opens its own connection after the fork (none is open before it)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(path, 60, q)) for _ in range(3)]
    for p in procs:
        p.start()
    wins = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
    assert sum(wins) == 60
    with ResultStore(path) as s:
        assert s.counts()["done"] == 60
        assert sorted(r["value"] for r in s.observation_rows()) == list(range(60))


def test_version1_store_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE jobs (job_id TEXT PRIMARY KEY, kind TEXT NOT NULL, definition TEXT NOT NULL,
            status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
            created REAL NOT NULL, updated REAL NOT NULL);
        CREATE TABLE observations (job_id TEXT NOT NULL, idx INTEGER NOT NULL, row TEXT NOT NULL,
            PRIMARY KEY (job_id, idx));
    """)
    con.execute("INSERT INTO jobs VALUES (?, 'fewshot', ?, 'done', 1, NULL, 0, 0)",
                (job_id(DEF), canonical_json(DEF)))
    con.execute("INSERT INTO observations VALUES (?, 0, '{\"value\": 0.5}')", (job_id(DEF),))
    con.commit()
    con.close()
    with ResultStore(path) as s:
        assert s.observation_rows() == [{"value": 0.5}]
        assert {"traceback", "owner", "seconds"} <= set(s.jobs().columns)
        assert not s.record_result(DEF, [{"value": 0.9}])


def test_keyed_records_upsert(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as s:
        s.put_records("passuntil/m", {"a": {"k": 3}, "b": {"k": 1}})
        s.put_records("passuntil/m", {"a": {"k": 7}})
        assert s.get_records("passuntil/m") == {"a": {"k": 7}, "b": {"k": 1}}
        assert s.namespaces() == ["passuntil/m"]


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "notes.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataError, match="not a results store"):
        ResultStore(bad)
    with pytest.raises(DataError, match="is a folder"):
        ResultStore(tmp_path)


def test_an_empty_file_is_not_taken_for_a_new_store(tmp_path: Path) -> None:
    empty = tmp_path / "s.sqlite"
    empty.touch()
    with pytest.raises(DataError, match="empty file .0 bytes., not a results store"):
        ResultStore(empty)


def _damage(path: Path) -> None:
    """Overwrite the second page of a store with garbage (as a bad disk or a stray dd would)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page: 2 * page] = bytes(range(256)) * (page // 256)
    path.write_bytes(bytes(data))


def _filled_store(path: Path, n: int = 300) -> None:
    with ResultStore(path) as s:
        s.add_jobs({**DEF, "shots": i} for i in range(n))
        for i in range(0, n, 2):
            s.record_result({**DEF, "shots": i}, [{"value": i}])


def test_a_damaged_store_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _filled_store(path)
    _damage(path)
    with pytest.raises(DataError, match="damaged or not a results store"):
        ResultStore(path)


CLI = [sys.executable, "-m", "emergence_law"]


@pytest.mark.parametrize("command", [["sweep", "status"], ["sweep", "export", "--out", "o.csv"],
                                     ["sweep", "run"]])
@pytest.mark.parametrize("damage", ["page", "empty"])
def test_sweep_commands_on_a_damaged_store_exit_2_with_one_line(tmp_path: Path, command,
                                                                  damage) -> None:
    import yaml

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "r", "store": "s.sqlite",
        "loss": {"callable": "emergence_law.sweep.synthetic:synthetic_job"},
        "models": [{"name": "m", "series": "s", "model": "m", "params": 1e8, "steps": [1000],
                    "tokens_per_step": 1000}],
        "tasks": {}}))
    path = tmp_path / "s.sqlite"
    if damage == "page":
        _filled_store(path)
        _damage(path)
    else:
        path.touch()
    args = [*command, str(recipe)] if command[1] == "run" else [*command, "--store", str(path)]
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "s.sqlite" in out.stderr and ("damaged" in out.stderr or "empty" in out.stderr)


def test_sweeps_opening_a_new_store_at_once_all_get_it(tmp_path):
    """A new store appears whole (built under a temporary name, linked into place): a second
    opener never meets SQLite's 0-byte placeholder, which is refused as an empty file (found
    with two sweeps started together on one new store)."""
    import stat
    import threading

    from emergence_law.atomic import user_mode

    for n in range(15):
        path = tmp_path / f"s{n}.sqlite"
        start, errors = threading.Barrier(6), []

        def open_it(path=path, start=start, errors=errors):
            start.wait()
            try:
                ResultStore(path).close()
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert stat.S_IMODE(path.stat().st_mode) == user_mode()
    assert not list(tmp_path.glob(".*.new"))  # no temporary file left behind


class _InterruptingConnection:
    """A connection whose ``execute`` is interrupted once by Ctrl-C, before or after SQLite
    runs the named statement: the two moments a signal can land between a transaction's steps."""

    def __init__(self, conn: sqlite3.Connection, statement: str, after: bool) -> None:
        self._conn, self._statement, self._after, self.fired = conn, statement, after, False

    def execute(self, sql: str, *args):
        if sql == self._statement and not self.fired:
            self.fired = True
            if self._after:
                self._conn.execute(sql, *args)
            raise KeyboardInterrupt
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


@pytest.mark.parametrize("statement,after", [("BEGIN IMMEDIATE", True), ("COMMIT", False)],
                         ids=["after-begin", "before-commit"])
def test_ctrl_c_between_a_transactions_steps_leaves_the_store_usable(tmp_path: Path, statement,
                                                                       after) -> None:
    """Found by CI: Ctrl-C inside COMMIT left the transaction open, and the runner's next write
    (putting in-flight jobs back to pending) was refused as 'damaged' (within a transaction)."""
    store = ResultStore(tmp_path / "s.sqlite")
    a, b = ({"kind": "noop", "i": i} for i in range(2))
    ids = store.add_jobs([a, b])
    store.mark_running(ids[0])
    real = store._conn
    store._conn = _InterruptingConnection(real, statement, after)
    with pytest.raises(KeyboardInterrupt):
        store.record_result(a, [{"x": 1}])
    assert store._conn.fired
    store._conn = real
    assert store.mark_pending([ids[0]], note="interrupted") == 1  # what the runner does next
    assert store.statuses() == {ids[0]: "pending", ids[1]: "pending"}
    assert store.observation_rows() == []  # the interrupted write left nothing
    store.record_result(a, [{"x": 1}])
    assert len(store.observation_rows()) == 1
    store.close()


def test_a_locked_store_is_busy_not_damaged(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    ResultStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DataError, match="busy") as err:
            ResultStore(path, timeout=0.1)
        assert "damaged" not in str(err.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
