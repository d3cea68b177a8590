"""The SQLite results store shared by sweeps and PassUntil.

Why SQLite: embedded, transactional, and safe against ``kill -9`` in WAL mode, so a crashed sweep
resumes without losing or duplicating a result. A job's identity is a hash of its full
definition: re-running a sweep skips finished jobs, a changed job gets a new id and runs again,
and the primary key makes a second write of the same result impossible.
Job ids and process owners are :mod:`emergence_law.jobid`; this module is the store itself.

Tables:

* ``jobs``: one row per job id, with its definition (JSON), status (``pending``, ``running``,
  ``done``, ``failed``), attempts, the last error and its traceback, the owner of a running job
  (``host:pid``), where it ran (``worker``: host, pid, Ray resources), seconds and timestamps.
* ``observations``: observation rows (JSON) produced by a job; written in the same transaction
  that marks the job done, so a job is either done with all its rows or not done at all.
* ``records``: small keyed records (``namespace``, ``key``) -> JSON, e.g. PassUntil's running
  per-instance counts, upserted one transaction per batch.

Durability: WAL with ``synchronous=NORMAL`` keeps every committed transaction through a killed
process (``kill -9``); only a power cut or OS crash may lose the last few commits, never
corrupting the file. Pass ``synchronous="FULL"`` where that matters more than speed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emergence_law.errors import DataError
from emergence_law.jobid import canonical_json, job_id, owner_alive, process_owner

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SCHEMA_VERSION = 2
STATUSES = ("pending", "running", "done", "failed")

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
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
"""

#: columns added after schema version 1 (added in place when an older store is opened)
_ADDED_COLUMNS = {
    "traceback": "TEXT",
    "owner": "TEXT",
    "seconds": "REAL",
    "worker": "TEXT",
}


def _damaged(path: Path, exc: Exception) -> DataError:
    """The one-line error for a store file SQLite cannot read."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return DataError(f"damaged or not a results store ({reason}); restore it from a backup or "
                     "move it away to start a new one", source=str(path))


def _store_error(path: Path, exc: sqlite3.DatabaseError) -> DataError:
    """A store that is busy is not damaged: say which one it is."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return DataError(f"busy: another process has held its write lock too long ({exc}); "
                         "wait for it to finish or stop it, then run again", source=str(path))
    return _damaged(path, exc)


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn SQLite's errors on a damaged file into one :class:`DataError` line."""

    @functools.wraps(method)
    def wrapper(self: ResultStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.path, exc) from exc
        except json.JSONDecodeError as exc:
            raise _damaged(self.path, exc) from exc
        except Exception as exc:
            if type(exc).__name__ == "DatabaseError":  # pandas.errors.DatabaseError
                raise _damaged(self.path, exc.__cause__ or exc) from exc
            raise

    return wrapper


def _create_store(path: Path) -> None:
    """Make a new, empty store at ``path`` in one step: build it under a temporary name and link
    it into place. Two sweeps started at the same moment on a new store then see either no file
    or a whole store, never the 0-byte file SQLite leaves while it creates one (which a second
    opener would refuse as an empty file)."""
    import tempfile

    from emergence_law.atomic import user_mode

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, user_mode())
        with contextlib.closing(sqlite3.connect(tmp)) as con:
            con.executescript(_DDL)
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


class ResultStore:
    """A results store in one SQLite file. Safe to open from several processes at once.

    Only one process should run a sweep's jobs and write their results (the driver); readers
    (``sweep status``) may open it at any time. Opening it puts back to pending the jobs whose
    owner process is dead (``reclaim=False`` leaves them). A damaged or empty file is refused
    with one :class:`DataError` line, on opening or on the first query that meets the damage.
    """

    def __init__(self, path: str | Path, timeout: float = 60.0, synchronous: str = "NORMAL",
                 reclaim: bool = True) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise DataError("is a folder, expected a store file (.sqlite)", source=str(path))
        if self.path.exists() and self.path.stat().st_size == 0 and not Path(
                f"{self.path}-wal").exists():
            # SQLite would take an empty file for a new store and every job would run again
            raise DataError("empty file (0 bytes), not a results store; delete it to start a "
                            "new store", source=str(path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            _create_store(self.path)
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.execute("PRAGMA foreign_keys=ON")
            check = self._conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            self._conn.executescript(_DDL)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if getattr(self, "_conn", None) is not None:
                self._conn.close()
            raise _store_error(self.path, exc) from exc
        #: jobs put back to pending on opening (their owner was dead)
        self.reclaimed = 0
        if reclaim:
            try:
                self.reclaimed = self.release_stale()
            except DataError as exc:  # a read-only file: reading it is still fine
                if not isinstance(exc.__cause__, sqlite3.OperationalError) or \
                        "readonly" not in str(exc.__cause__):
                    raise

    def _migrate(self) -> None:
        """Bring a store written by an older version up to :data:`SCHEMA_VERSION` in place."""
        with self.transaction() as c:
            have = {r[1] for r in c.execute("PRAGMA table_info(jobs)")}
            for name, typ in _ADDED_COLUMNS.items():
                if name not in have:
                    c.execute(f"ALTER TABLE jobs ADD COLUMN {name} {typ}")
            c.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
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
        """One write transaction (BEGIN IMMEDIATE): all or nothing, even under kill -9.

        Ctrl-C can land between any two steps (after BEGIN, inside COMMIT); whatever is still
        open when the block ends, by any exception, is rolled back, and a transaction an
        earlier interruption left open is rolled back before the next one begins."""
        self._rollback_leftover()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.path, exc) from exc
        try:
            yield self._conn
            try:
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise _store_error(self.path, exc) from exc
        finally:
            self._rollback_leftover()

    def _rollback_leftover(self) -> None:
        """Roll back a transaction left open (an interrupted block); keep any first error."""
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.DatabaseError):
                self._conn.execute("ROLLBACK")

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

    def statuses(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        """Status of each job id (all jobs when ``ids`` is None; unknown ids are left out)."""
        cur = self._conn.execute("SELECT job_id, status FROM jobs")
        out = dict(cur.fetchall())
        if ids is None:
            return out
        return {i: out[i] for i in ids if i in out}

    def is_done(self, jid: str) -> bool:
        return self.status_of(jid) == "done"

    def mark_running(self, jid: str, owner: str | None = None) -> bool:
        """Claim a pending job for ``owner`` (default: this process), atomically.

        False if the job is done, failed, or already claimed: two sweeps on one store never
        run the same job at once, they share the pending ones.
        """
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE jobs SET status='running', attempts=attempts+1, owner=?, updated=? "
                "WHERE job_id=? AND status='pending'",
                (owner or process_owner(), time.time(), jid),
            )
            return cur.rowcount > 0

    def mark_pending(self, ids: Iterable[str], note: str | None = None) -> int:
        """Put running jobs back to pending (an interrupted run); done jobs are never touched."""
        now = time.time()
        with self.transaction() as c:
            n = 0
            for jid in ids:
                n += c.execute(
                    "UPDATE jobs SET status='pending', owner=NULL, updated=?, "
                    "error=COALESCE(?, error) WHERE job_id=? AND status='running'",
                    (now, note, jid),
                ).rowcount
            return n

    def release_stale(self) -> int:
        """Put back to pending the running jobs whose owner process is gone (e.g. ``kill -9``).

        Jobs owned by a live process on this host, or by another host, are left alone: another
        run may be working on them (and if it is not, a second result is refused anyway).
        """
        rows = self._conn.execute(
            "SELECT job_id, owner FROM jobs WHERE status='running'"
        ).fetchall()
        stale = [jid for jid, owner in rows if not owner_alive(owner)]
        return self.mark_pending(stale, note="interrupted: the run that started it ended")

    def record_result(
        self,
        definition: Mapping[str, Any],
        rows: Iterable[Mapping[str, Any]],
        seconds: float | None = None,
        worker: Mapping[str, Any] | None = None,
    ) -> bool:
        """Store a finished job's observation rows and mark it done, atomically.

        Returns False (and writes nothing) if the job was already done: a result is never
        written twice, whichever worker finishes second. ``worker`` (host, pid, resources)
        records where it ran.
        """
        jid = job_id(definition)
        encoded = [(jid, i, canonical_json(dict(r))) for i, r in enumerate(rows)]
        now = time.time()
        with self.transaction() as c:
            row = c.execute("SELECT status FROM jobs WHERE job_id=?", (jid,)).fetchone()
            if row and row[0] == "done":
                return False
            c.execute(
                "INSERT INTO jobs(job_id, kind, definition, status, attempts, created, updated, "
                "seconds, worker) VALUES (?, ?, ?, 'done', 1, ?, ?, ?, ?) ON CONFLICT(job_id) "
                "DO UPDATE SET status='done', error=NULL, traceback=NULL, owner=NULL, "
                "updated=excluded.updated, seconds=excluded.seconds, worker=excluded.worker",
                (jid, str(definition.get("kind", "job")), canonical_json(dict(definition)),
                 now, now, seconds, canonical_json(dict(worker)) if worker else None),
            )
            # rows of an earlier, unfinished attempt cannot exist (they commit with 'done'),
            # but clear them anyway so the (job_id, idx) key can never collide
            c.execute("DELETE FROM observations WHERE job_id=?", (jid,))
            c.executemany("INSERT INTO observations(job_id, idx, row) VALUES (?, ?, ?)", encoded)
        return True

    def record_failure(
        self, definition: Mapping[str, Any], error: str, traceback: str | None = None,
        worker: Mapping[str, Any] | None = None,
    ) -> None:
        """Mark a job failed with its error (a done job stays done)."""
        jid = job_id(definition)
        now = time.time()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO jobs(job_id, kind, definition, status, attempts, error, traceback, "
                "created, updated, worker) VALUES (?, ?, ?, 'failed', 1, ?, ?, ?, ?, ?) "
                "ON CONFLICT(job_id) DO UPDATE SET "
                "status=CASE WHEN status='done' THEN 'done' ELSE 'failed' END, "
                "error=CASE WHEN status='done' THEN error ELSE excluded.error END, "
                "traceback=CASE WHEN status='done' THEN traceback ELSE excluded.traceback END, "
                "worker=CASE WHEN status='done' THEN worker ELSE excluded.worker END, "
                "owner=NULL, updated=excluded.updated",
                (jid, str(definition.get("kind", "job")), canonical_json(dict(definition)),
                 error, traceback, now, now, canonical_json(dict(worker)) if worker else None),
            )

    def reset_failed(self, ids: Iterable[str] | None = None) -> int:
        """Mark failed jobs (all, or those in ``ids``) pending again; return how many."""
        with self.transaction() as c:
            if ids is None:
                return c.execute("UPDATE jobs SET status='pending' WHERE status='failed'").rowcount
            return sum(
                c.execute(
                    "UPDATE jobs SET status='pending' WHERE status='failed' AND job_id=?", (jid,)
                ).rowcount
                for jid in ids
            )

    def jobs(self, status: str | None = None) -> pd.DataFrame:
        """The jobs table (optionally one status), oldest first."""
        import pandas as pd

        q = ("SELECT job_id, kind, status, attempts, error, traceback, owner, seconds, worker, "
             "definition, created, updated FROM jobs")
        args: tuple = ()
        if status is not None:
            q += " WHERE status=?"
            args = (status,)
        return pd.read_sql_query(q + " ORDER BY created, job_id", self._conn, params=args)

    def definition(self, jid: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT definition FROM jobs WHERE job_id=?", (jid,)).fetchone()
        return json.loads(row[0]) if row else None

    def counts(self, ids: Sequence[str] | None = None) -> dict[str, int]:
        """Number of jobs per status (all jobs, or those of ``ids``; unknown ids count pending)."""
        out = dict.fromkeys(STATUSES, 0)
        if ids is None:
            for status, n in self._conn.execute(
                "SELECT status, COUNT(*) FROM jobs GROUP BY status"
            ):
                out[status] = n
            return out
        known = self.statuses(ids)
        for jid in ids:
            out[known.get(jid, "pending")] += 1
        return out

    def observation_rows(self, ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Rows of done jobs (all, or those of ``ids``), in job and row order."""
        return [row for _, _, row in self.job_rows(ids)]

    def job_rows(
        self, ids: Sequence[str] | None = None
    ) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """``(job_id, definition, row)`` for every row of every done job (or those of ``ids``)."""
        cur = self._conn.execute(
            "SELECT o.job_id, j.definition, o.row FROM observations o JOIN jobs j USING(job_id) "
            "WHERE j.status='done' ORDER BY j.created, o.job_id, o.idx"
        )
        wanted = None if ids is None else set(ids)
        defs: dict[str, dict[str, Any]] = {}
        out = []
        for jid, d, r in cur:
            if wanted is not None and jid not in wanted:
                continue
            if jid not in defs:
                defs[jid] = json.loads(d)
            out.append((jid, defs[jid], json.loads(r)))
        return out

    def observation_table(self) -> pd.DataFrame:
        """Every stored observation row as one (unvalidated) table, with no job filter or
        model-name join: a quick look. ``sweep export``
        (:func:`emergence_law.sweep.export.export_observations`) writes the validated table."""
        from emergence_law.observations import rows_to_frame

        return rows_to_frame(self.observation_rows())

    def integrity_check(self) -> str:
        """SQLite's own consistency check: ``'ok'`` for a sound file."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

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


for _name in ("add_jobs", "status_of", "statuses", "mark_running", "mark_pending", "release_stale",
              "record_result", "record_failure", "reset_failed", "jobs", "definition", "counts",
              "job_rows", "integrity_check", "put_records", "get_records", "namespaces"):
    setattr(ResultStore, _name, _guarded(getattr(ResultStore, _name)))
del _name
