"""The SQLite results store: identity, exactly-once results, recovery, migration, records."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from emergence_law.errors import DataError
from emergence_law.store import ResultStore, canonical_json, job_id, process_owner

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


def test_stale_running_jobs_are_released(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host = process_owner().rpartition(":")[0]
    a, b = {**DEF, "shots": 1}, {**DEF, "shots": 2}
    with ResultStore(tmp_path / "s.sqlite") as s:
        ja, jb = s.add_jobs([a, b])
        s.mark_running(ja, owner=f"{host}:{dead.stdout.strip()}")  # its process has ended
        s.mark_running(jb)  # owned by this (live) process
        assert s.release_stale() == 1
        assert s.status_of(ja) == "pending" and s.status_of(jb) == "running"
        assert "interrupted" in s.jobs().set_index("job_id").loc[ja, "error"]


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
