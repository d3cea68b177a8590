"""The SQLite results store shared by sweeps and PassUntil.

Why SQLite: embedded, transactional, and safe against ``kill -9`` in WAL mode, so a crashed sweep
resumes without losing or duplicating a result. A job's identity is a hash of its full
definition: re-running a sweep skips finished jobs, a changed job gets a new id and runs again,
and the primary key makes a second write of the same result impossible.

Tables:

* ``jobs``: one row per job id, with its definition (JSON), status (``pending``, ``running``,
  ``done``, ``failed``), attempts, the last error and timestamps.
* ``observations``: observation rows (JSON) produced by a job; written in the same transaction
  that marks the job done, so a job is either done with all its rows or not done at all.
* ``records``: small keyed records (``namespace``, ``key``) -> JSON, e.g. PassUntil's running
  per-instance counts, upserted one transaction per batch.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    definition TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS observations (
    job_id TEXT NOT NULL REFERENCES jobs(job_id),
    idx INTEGER NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS records (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
"""


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal definitions give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def job_id(definition: Mapping[str, Any]) -> str:
    """A job's identity: the SHA-256 of its canonical JSON definition (first 20 hex digits)."""
    return hashlib.sha256(canonical_json(dict(definition)).encode()).hexdigest()[:20]


class ResultStore:
    """A results store in one SQLite file. Safe to open from several processes at once."""

    def __init__(self, path: str | Path, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_DDL)
        self._conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )

    # -- plumbing ---------------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): all or nothing, even under kill -9."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    # -- jobs -------------------------------------------------------------------------------
    def add_jobs(self, definitions: Iterable[Mapping[str, Any]]) -> list[str]:
        """Register jobs as pending (existing ones are left as they are); return their ids."""
        now = time.time()
        ids = []
        with self.transaction() as c:
            for d in definitions:
                jid = job_id(d)
                ids.append(jid)
                c.execute(
                    "INSERT OR IGNORE INTO jobs(job_id, kind, definition, status, created, updated)"
                    " VALUES (?, ?, ?, 'pending', ?, ?)",
                    (jid, str(d.get("kind", "job")), canonical_json(dict(d)), now, now),
                )
        return ids

    def status_of(self, jid: str) -> str | None:
        row = self._conn.execute("SELECT status FROM jobs WHERE job_id=?", (jid,)).fetchone()
        return row[0] if row else None

    def is_done(self, jid: str) -> bool:
        return self.status_of(jid) == "done"

    def mark_running(self, jid: str) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE jobs SET status='running', attempts=attempts+1, updated=? "
                "WHERE job_id=? AND status != 'done'",
                (time.time(), jid),
            )

    def record_result(
        self, definition: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]
    ) -> bool:
        """Store a finished job's observation rows and mark it done, atomically.

        Returns False (and writes nothing) if the job was already done: a result is never
        written twice, whichever worker finishes second.
        """
        jid = job_id(definition)
        now = time.time()
        with self.transaction() as c:
            row = c.execute("SELECT status FROM jobs WHERE job_id=?", (jid,)).fetchone()
            if row and row[0] == "done":
                return False
            c.execute(
                "INSERT INTO jobs(job_id, kind, definition, status, attempts, created, updated) "
                "VALUES (?, ?, ?, 'done', 1, ?, ?) ON CONFLICT(job_id) DO UPDATE SET "
                "status='done', error=NULL, updated=excluded.updated",
                (jid, str(definition.get("kind", "job")), canonical_json(dict(definition)),
                 now, now),
            )
            c.executemany(
                "INSERT INTO observations(job_id, idx, row) VALUES (?, ?, ?)",
                [(jid, i, canonical_json(dict(r))) for i, r in enumerate(rows)],
            )
        return True

    def record_failure(self, definition: Mapping[str, Any], error: str) -> None:
        """Mark a job failed with its error (a done job stays done)."""
        jid = job_id(definition)
        now = time.time()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO jobs(job_id, kind, definition, status, attempts, error, created, "
                "updated) VALUES (?, ?, ?, 'failed', 1, ?, ?, ?) ON CONFLICT(job_id) DO UPDATE "
                "SET status=CASE WHEN status='done' THEN 'done' ELSE 'failed' END, "
                "error=excluded.error, updated=excluded.updated",
                (jid, str(definition.get("kind", "job")), canonical_json(dict(definition)),
                 error, now, now),
            )

    def reset_failed(self) -> int:
        """Mark failed jobs pending again (for ``--retry-failed``); return how many."""
        with self.transaction() as c:
            cur = c.execute("UPDATE jobs SET status='pending' WHERE status='failed'")
            return cur.rowcount

    def jobs(self, status: str | None = None) -> pd.DataFrame:
        q = "SELECT job_id, kind, status, attempts, error, definition, updated FROM jobs"
        args: tuple = ()
        if status is not None:
            q += " WHERE status=?"
            args = (status,)
        return pd.read_sql_query(q + " ORDER BY created, job_id", self._conn, params=args)

    def counts(self) -> dict[str, int]:
        out = {"pending": 0, "running": 0, "done": 0, "failed": 0}
        for status, n in self._conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"):
            out[status] = n
        return out

    def observation_rows(self) -> list[dict[str, Any]]:
        cur = self._conn.execute(
            "SELECT o.row FROM observations o JOIN jobs j USING(job_id) "
            "WHERE j.status='done' ORDER BY j.created, o.job_id, o.idx"
        )
        return [json.loads(r[0]) for r in cur]

    def export_observations(self) -> pd.DataFrame:
        """All stored observation rows as an observation table (not yet validated)."""
        from emergence_law.observations import rows_to_frame

        return rows_to_frame(self.observation_rows())

    # -- keyed records ----------------------------------------------------------------------
    def put_records(self, namespace: str, items: Mapping[str, Any]) -> None:
        """Upsert several keyed JSON records in one transaction."""
        now = time.time()
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO records(namespace, key, value, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(namespace, key) DO UPDATE SET value=excluded.value, "
                "updated=excluded.updated",
                [(namespace, str(k), canonical_json(v), now) for k, v in items.items()],
            )

    def get_records(self, namespace: str) -> dict[str, Any]:
        cur = self._conn.execute(
            "SELECT key, value FROM records WHERE namespace=? ORDER BY key", (namespace,)
        )
        return {k: json.loads(v) for k, v in cur}

    def namespaces(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT DISTINCT namespace FROM records")]
