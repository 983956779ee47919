"""The embedded default store: one SQLite file, WAL journal, one transaction per state change.

WAL with ``synchronous=NORMAL`` survives a killed process without losing a committed
transaction; ``BEGIN IMMEDIATE`` serialises lease decisions between runs on one machine.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fnf.clock import iso, parse_iso
from fnf.errors import LeaseLostError, StoreError, StoreUnavailableError, UsageError
from fnf.models import (
    Client,
    Holder,
    JobState,
    JobType,
    Lease,
    Outcome,
    RunCounts,
    RunRecord,
    StateUpdate,
    Status,
    Sweep,
    format_seconds,
    parse_seconds,
)
from fnf.proc import linux as procs
from fnf.store.base import (
    Acquired,
    Busy,
    ImportReport,
    LeaseJudge,
    RunFinish,
    RunProgress,
    Store,
    Unusable,
    unassigned,
)

SCHEMA_VERSION = 2

IMPORT_BATCH = 500
"""Clients written per transaction by an import."""

BUSY_SECONDS = 30.0
"""How long a write waits for another process's transaction before it gives up."""

_LEASES = """SELECT l.*, r.host, r.pid, r.boot_id, r.pid_start FROM leases l
             LEFT JOIN runs r ON r.run_id = l.run_id"""

_ADDED_COLUMNS = {
    "client_jobs": {
        "timeouts_in_row": "INTEGER NOT NULL DEFAULT 0",
        "quarantined_at": "TEXT",
        "alert_kind": "TEXT",
        "alert_at": "TEXT",
        "recent_seconds": "TEXT NOT NULL DEFAULT ''",
    },
    "runs": {"alerts": "TEXT", "skipped": "INTEGER NOT NULL DEFAULT 0"},
    "leases": {"beat": "TEXT NOT NULL DEFAULT ''"},
}
"""Columns added since schema version 1, added in place to an older store when it is opened."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    stream INTEGER CHECK (stream IS NULL OR stream > 0),
    position INTEGER NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS clients_stream ON clients (stream, position);
CREATE TABLE IF NOT EXISTS client_jobs (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,
    job_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    sweep_id TEXT NOT NULL,
    last_run_date TEXT NOT NULL,
    last_run_seconds REAL,
    count INTEGER,
    message TEXT,
    timeouts_in_row INTEGER NOT NULL DEFAULT 0,
    quarantined_at TEXT,
    alert_kind TEXT,
    alert_at TEXT,
    recent_seconds TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (client_id, job_type)
);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    job_type TEXT NOT NULL,
    stream INTEGER NOT NULL,
    number INTEGER NOT NULL,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    closed_at TEXT,
    close_reason TEXT
);
CREATE INDEX IF NOT EXISTS sweeps_open ON sweeps (job_type, stream, closed_at);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    run_type TEXT NOT NULL,
    stream INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    pid_start TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    timed_out INTEGER NOT NULL DEFAULT 0,
    remaining INTEGER NOT NULL DEFAULT 0,
    stopped_at TEXT,
    message TEXT,
    alerts TEXT
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
CREATE TABLE IF NOT EXISTS leases (
    job_type TEXT NOT NULL,
    stream INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    stale_after_seconds REAL NOT NULL,
    beat TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_type, stream)
);
"""


class SQLiteStore(Store):
    name = "sqlite"

    def __init__(
        self, path: Path | str, *, create: bool = True, readonly: bool = False, busy: float = BUSY_SECONDS
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.busy = busy
        memory = str(path) == ":memory:"
        if (readonly or not create) and not memory and not self.path.exists():
            raise UsageError(
                f"no fnf store at {str(self.path)!r}: import clients first (fnf clients import FILE.csv), "
                "or point FNF_DB (or --db) at the existing store; relative paths start from the "
                "current directory"
            )
        if not memory and not self.path.parent.is_dir():
            raise StoreError(
                f"cannot open the SQLite store {str(self.path)!r}: directory "
                f"{str(self.path.parent)!r} does not exist; create it or set FNF_DB to another path"
            )
        if not memory and not self.path.exists():
            _create_private(self.path)
        self._identity: tuple[int, int] | None = None
        try:
            self._db = _read_only(self.path) if readonly and not memory else self._writable(str(path))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the SQLite store {str(self.path)!r}: {explain(exc)}") from exc
        self._identity = _identity(self.path) if not memory else None

    def _writable(self, path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, timeout=self.busy)
        self._db = db
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        if _current(db):
            return db  # nothing to create or add: opening writes nothing, so a busy store does not wait
        with self._tx():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            for table, columns in _ADDED_COLUMNS.items():
                have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                for column, kind in columns.items():
                    if column not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return db

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.check_identity()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error("cannot write", exc) from exc
        try:
            yield self._db
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error("cannot write", exc) from exc
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._error("could not commit to", exc) from exc

    def _error(self, doing: str, exc: sqlite3.Error) -> StoreError:
        """A lock held too long may pass (a run stops interrupted and resumes); the rest will not.

        After a failed write (a full disk, most often) the journal is emptied into the store, so
        that the few writes that follow (the states in hand, the run's end) find room: a run that
        failed for lack of space says so, instead of being found dead later.
        """
        text = f"{doing} the SQLite store {str(self.path)!r}: {explain(exc, self.path, self.busy)}"
        if _locked(exc):
            return StoreUnavailableError(text)
        self._reclaim_journal()
        return StoreError(text)

    def _reclaim_journal(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            pass  # nothing more to free: the error already raised says why

    @contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """Within the block a write waits at most ``seconds`` for another process's lock."""
        self._db.execute(f"PRAGMA busy_timeout = {int(min(seconds, self.busy) * 1000)}")
        try:
            yield
        finally:
            self._db.execute(f"PRAGMA busy_timeout = {int(self.busy * 1000)}")

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the transaction is already gone (SQLite rolls back itself after some errors)

    def check_identity(self) -> None:
        """Refuse to go on if the store's file was deleted or replaced since it was opened: writes
        would land in a file no one will read again, and a run would report work nobody kept."""
        if self._identity is None:
            return
        now = _identity(self.path)
        if now != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise StoreError(
                f"the SQLite store {str(self.path)!r} was {what} while fnf had it open: nothing more can be "
                "recorded in it; restore the file (or point FNF_DB at the right one) and run again"
            )

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {str(self.path)!r}: {explain(exc, self.path)}") from exc

    # -- clients -------------------------------------------------------------------------
    def list_clients(self, stream: int | None = None) -> list[Client]:
        if stream is None:
            rows = self._query("SELECT * FROM clients ORDER BY position, id")
        else:
            rows = self._query("SELECT * FROM clients WHERE stream = ? ORDER BY position, id", (stream,))
        return [_client(row) for row in rows]

    def unusable(self, stream: int | None = None) -> list[Unusable]:
        rows = self._query("SELECT * FROM clients WHERE stream IS NULL ORDER BY position, id")
        return unassigned([_client(row) for row in rows])

    def import_clients(self, clients: Sequence[Client]) -> ImportReport:
        """Add or update ``clients`` in transactions of IMPORT_BATCH rows, so that a large file never
        holds the store's lock for long (a run's writes wait on it). Importing again is harmless: a
        file cut short by a crash is finished by importing it again."""
        added = updated = unchanged = 0
        for first in range(0, len(clients), IMPORT_BATCH):
            with self._tx() as db:
                counts = _import_batch(db, clients[first : first + IMPORT_BATCH])
            added, updated, unchanged = added + counts[0], updated + counts[1], unchanged + counts[2]
        return ImportReport(added, updated, unchanged)

    def remove_clients(self, client_ids: Sequence[str]) -> int:
        removed = 0
        with self._tx() as db:
            for client_id in client_ids:
                removed += db.execute("DELETE FROM clients WHERE id = ?", (client_id,)).rowcount
        return removed

    # -- job states ----------------------------------------------------------------------
    def job_states(self, job_type: JobType, stream: int | None = None) -> dict[str, JobState]:
        if stream is None:
            rows = self._query("SELECT * FROM client_jobs WHERE job_type = ?", (job_type.value,))
        else:
            rows = self._query(
                """SELECT j.* FROM client_jobs j JOIN clients c ON c.id = j.client_id
                   WHERE j.job_type = ? AND c.stream = ?""",
                (job_type.value, stream),
            )
        return {row["client_id"]: _state(row) for row in rows}

    def save(self, updates: Sequence[StateUpdate], progress: RunProgress) -> frozenset[str]:
        with self._tx() as db:
            held = db.execute("SELECT COUNT(*) FROM leases WHERE run_id = ?", (progress.run_id,)).fetchone()[0]
            if not held:
                raise LeaseLostError(
                    f"run {progress.run_id} no longer holds its stream (another run took over); "
                    "stopping without writing"
                )
            refused = _refused(db, updates, progress)
            _write_states(db, [u for u in updates if u.client_id not in refused])
            counts = progress.counts
            db.execute(
                """UPDATE runs SET completed = ?, failed = ?, timed_out = ?, remaining = ?,
                       stopped_at = ? WHERE run_id = ?""",
                (
                    counts.completed,
                    counts.failed,
                    counts.timed_out,
                    counts.remaining,
                    progress.stopped_at,
                    progress.run_id,
                ),
            )
        return refused

    def put_states(self, updates: Sequence[StateUpdate]) -> None:
        with self._tx() as db:
            _write_states(db, updates)

    # -- sweeps --------------------------------------------------------------------------
    def open_sweep(self, job_type: JobType, stream: int) -> Sweep | None:
        rows = self._query(
            """SELECT * FROM sweeps WHERE job_type = ? AND stream = ? AND closed_at IS NULL
               ORDER BY number DESC LIMIT 1""",
            (job_type.value, stream),
        )
        return _sweep(rows[0]) if rows else None

    def start_sweep(self, job_type: JobType, stream: int, run_id: str, now: datetime) -> Sweep:
        with self._tx() as db:
            db.execute(
                """UPDATE sweeps SET closed_at = ?, close_reason = 'superseded'
                   WHERE job_type = ? AND stream = ? AND closed_at IS NULL""",
                (iso(now), job_type.value, stream),
            )
            (number,) = db.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM sweeps WHERE job_type = ? AND stream = ?",
                (job_type.value, stream),
            ).fetchone()
            sweep_id = uuid.uuid4().hex[:12]
            db.execute(
                """INSERT INTO sweeps (id, job_type, stream, number, opened_at, opened_by)
                   VALUES (?,?,?,?,?,?)""",
                (sweep_id, job_type.value, stream, number, iso(now), run_id),
            )
        return Sweep(sweep_id, job_type, stream, number, _at(iso(now)), run_id)

    def close_sweep(self, sweep_id: str, now: datetime, reason: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE sweeps SET closed_at = ?, close_reason = ? WHERE id = ? AND closed_at IS NULL",
                (iso(now), reason, sweep_id),
            )

    # -- runs and leases -----------------------------------------------------------------
    def acquire(
        self,
        run: RunRecord,
        job_types: Sequence[JobType],
        stale_after: float,
        is_dead: LeaseJudge,
    ) -> Acquired | Busy:
        taken: list[Lease] = []
        with self._tx() as db:
            for job_type in job_types:
                lease = self._lease(db, job_type, run.stream)
                if lease is None:
                    continue
                if not is_dead(lease):
                    return Busy(lease)
                taken.append(lease)
            for lease in taken:
                db.execute(
                    """UPDATE runs SET outcome = ?, ended_at = heartbeat_at,
                           message = COALESCE(message, ?)
                       WHERE run_id = ? AND outcome IS NULL""",
                    (
                        Outcome.ABANDONED.value,
                        f"taken over by run {run.run_id} (heartbeat stopped)",
                        lease.holder.run_id,
                    ),
                )
            _insert_run(db, run)
            for job_type in job_types:
                db.execute(
                    """INSERT OR REPLACE INTO leases (job_type, stream, run_id, acquired_at,
                           heartbeat_at, stale_after_seconds, beat) VALUES (?,?,?,?,?,?,?)""",
                    (
                        job_type.value,
                        run.stream,
                        run.run_id,
                        iso(run.started_at),
                        iso(run.started_at),
                        stale_after,
                        procs.beat_stamp(),
                    ),
                )
        return Acquired(tuple(taken))

    def _lease(self, db: sqlite3.Connection, job_type: JobType, stream: int) -> Lease | None:
        row = db.execute(f"{_LEASES} WHERE l.job_type = ? AND l.stream = ?", (job_type.value, stream)).fetchone()
        return _lease(row) if row else None

    def heartbeat(self, run_id: str, now: datetime) -> bool:
        with self._tx() as db:
            held = db.execute(
                "UPDATE leases SET heartbeat_at = ?, beat = ? WHERE run_id = ?", (iso(now), procs.beat_stamp(), run_id)
            ).rowcount
            db.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ?", (iso(now), run_id))
        return held > 0

    def finish_run(self, finish: RunFinish) -> None:
        counts = finish.counts
        with self._tx() as db:
            db.execute(
                """UPDATE runs SET ended_at = ?, outcome = ?, completed = ?, failed = ?,
                       timed_out = ?, remaining = ?, skipped = ?, stopped_at = ?, message = ?, alerts = ?
                   WHERE run_id = ? AND (outcome IS NULL OR outcome = ?)""",
                (
                    iso(finish.ended_at),
                    finish.outcome.value,
                    counts.completed,
                    counts.failed,
                    counts.timed_out,
                    counts.remaining,
                    counts.skipped,
                    finish.stopped_at,
                    finish.message,
                    finish.alerts,
                    finish.run_id,
                    finish.outcome.value,
                ),
            )
            db.execute("DELETE FROM leases WHERE run_id = ?", (finish.run_id,))

    def record_run(self, run: RunRecord) -> None:
        with self._tx() as db:
            _insert_run(db, run)

    def runs(self, *, limit: int = 50, run_type: str | None = None, stream: int | None = None) -> list[RunRecord]:
        sql, params = "SELECT * FROM runs WHERE 1=1", list[object]()
        if run_type is not None:
            sql += " AND run_type = ?"
            params.append(run_type)
        if stream is not None:
            sql += " AND stream = ?"
            params.append(stream)
        sql += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        params.append(limit)
        return [_run(row) for row in self._query(sql, params)]

    def leases(self) -> list[Lease]:
        rows = self._query(f"{_LEASES} ORDER BY l.job_type, l.stream")
        return [_lease(row) for row in rows]

    def prune_runs(self, before: datetime) -> int:
        with self._tx() as db:
            return int(
                db.execute(
                    """DELETE FROM runs WHERE ended_at IS NOT NULL AND ended_at < ?
                       AND run_id NOT IN (SELECT run_id FROM leases)""",
                    (iso(before),),
                ).rowcount
            )

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


def _refused(db: sqlite3.Connection, updates: Sequence[StateUpdate], progress: RunProgress) -> frozenset[str]:
    """Clients whose STARTED is refused: out of the run's stream now, or in flight in another live run."""
    refused = set()
    for update in updates:
        if update.state.status is not Status.STARTED or progress.stream is None:
            continue
        member = db.execute("SELECT stream FROM clients WHERE id = ?", (update.client_id,)).fetchone()
        busy = db.execute(
            """SELECT 1 FROM client_jobs j JOIN leases l ON l.run_id = j.run_id
               WHERE j.client_id = ? AND j.job_type = ? AND j.status IN ('STARTED', 'RUNNING') AND j.run_id != ?""",
            (update.client_id, update.job_type.value, progress.run_id),
        ).fetchone()
        if member is None or member[0] != progress.stream or busy is not None:
            refused.add(update.client_id)
    return frozenset(refused)


def _write_states(db: sqlite3.Connection, updates: Sequence[StateUpdate]) -> None:
    for update in updates:
        state = update.state
        db.execute(
            """INSERT INTO client_jobs (client_id, job_type, status, job_id, run_id, sweep_id,
                   last_run_date, last_run_seconds, count, message, timeouts_in_row,
                   quarantined_at, alert_kind, alert_at, recent_seconds)
               SELECT ?,?,?,?,?,?,?,?,?,?,?,?,?,?,? WHERE EXISTS (SELECT 1 FROM clients WHERE id = ?)
               ON CONFLICT (client_id, job_type) DO UPDATE SET
                   status = excluded.status, job_id = excluded.job_id,
                   run_id = excluded.run_id, sweep_id = excluded.sweep_id,
                   last_run_date = excluded.last_run_date,
                   last_run_seconds = excluded.last_run_seconds,
                   count = excluded.count, message = excluded.message,
                   timeouts_in_row = excluded.timeouts_in_row,
                   quarantined_at = excluded.quarantined_at,
                   alert_kind = excluded.alert_kind, alert_at = excluded.alert_at,
                   recent_seconds = excluded.recent_seconds""",
            (
                update.client_id,
                update.job_type.value,
                state.status.value,
                state.job_id,
                state.run_id,
                state.sweep_id,
                iso(state.last_run_date),
                state.last_run_seconds,
                state.count,
                state.message,
                state.timeouts_in_row,
                iso(state.quarantined_at),
                state.alert_kind,
                iso(state.alert_at),
                format_seconds(state.recent_seconds),
                update.client_id,
            ),
        )


def _insert_run(db: sqlite3.Connection, run: RunRecord) -> None:
    holder, counts = run.holder, run.counts
    db.execute(
        """INSERT INTO runs (run_id, run_type, stream, job_id, host, pid, boot_id, pid_start,
               started_at, heartbeat_at, ended_at, outcome, completed, failed, timed_out,
               remaining, skipped, stopped_at, message, alerts)
           VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
        (
            run.run_id,
            run.run_type,
            run.stream,
            run.job_id,
            holder.host,
            holder.pid,
            holder.boot_id,
            holder.pid_start,
            iso(run.started_at),
            iso(run.heartbeat_at),
            iso(run.ended_at),
            run.outcome.value if run.outcome else None,
            counts.completed,
            counts.failed,
            counts.timed_out,
            counts.remaining,
            counts.skipped,
            run.stopped_at,
            run.message,
            run.alerts,
        ),
    )


def _at(text: str | None) -> datetime:
    moment = parse_iso(text)
    assert moment is not None
    return moment


def _client(row: sqlite3.Row) -> Client:
    return Client(row["id"], row["name"], row["stream"], json.loads(row["fields"]))


def _state(row: sqlite3.Row) -> JobState:
    return JobState(
        status=Status(row["status"]),
        job_id=row["job_id"],
        run_id=row["run_id"],
        sweep_id=row["sweep_id"],
        last_run_date=_at(row["last_run_date"]),
        last_run_seconds=row["last_run_seconds"],
        count=row["count"],
        message=row["message"],
        timeouts_in_row=row["timeouts_in_row"],
        quarantined_at=parse_iso(row["quarantined_at"]),
        alert_kind=row["alert_kind"],
        alert_at=parse_iso(row["alert_at"]),
        recent_seconds=parse_seconds(row["recent_seconds"]),
    )


def _sweep(row: sqlite3.Row) -> Sweep:
    return Sweep(
        id=row["id"],
        job_type=JobType(row["job_type"]),
        stream=row["stream"],
        number=row["number"],
        opened_at=_at(row["opened_at"]),
        opened_by=row["opened_by"],
        closed_at=parse_iso(row["closed_at"]),
        close_reason=row["close_reason"],
    )


def _holder(row: sqlite3.Row) -> Holder:
    return Holder(
        run_id=row["run_id"],
        host=row["host"] or "?",
        pid=row["pid"] or 0,
        boot_id=row["boot_id"] or "",
        pid_start=row["pid_start"] or "",
    )


def _lease(row: sqlite3.Row) -> Lease:
    return Lease(
        job_type=JobType(row["job_type"]),
        stream=row["stream"],
        holder=_holder(row),
        acquired_at=_at(row["acquired_at"]),
        heartbeat_at=_at(row["heartbeat_at"]),
        stale_after_seconds=row["stale_after_seconds"],
        beat=row["beat"] if "beat" in row.keys() else "",  # noqa: SIM118 - a Row's "in" looks at values
    )


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        run_type=row["run_type"],
        stream=row["stream"],
        job_id=row["job_id"],
        holder=_holder(row),
        started_at=_at(row["started_at"]),
        heartbeat_at=_at(row["heartbeat_at"]),
        ended_at=parse_iso(row["ended_at"]),
        outcome=Outcome(row["outcome"]) if row["outcome"] else None,
        counts=RunCounts(row["completed"], row["failed"], row["timed_out"], row["remaining"], row["skipped"]),
        stopped_at=row["stopped_at"],
        message=row["message"],
        alerts=row["alerts"],
    )


def _create_private(path: Path) -> None:
    """Create the store readable by its owner only: it holds client data. SQLite gives its -wal
    and -shm files the same permissions as the database file."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the SQLite store {str(path)!r}: {exc.strerror}; check FNF_DB") from exc


def _import_batch(db: sqlite3.Connection, clients: Sequence[Client]) -> tuple[int, int, int]:
    added = updated = unchanged = 0
    (top,) = db.execute("SELECT COALESCE(MAX(position), 0) FROM clients").fetchone()
    for client in clients:
        fields = json.dumps(dict(client.fields), sort_keys=True)
        row = db.execute("SELECT name, stream, fields FROM clients WHERE id = ?", (client.id,)).fetchone()
        if row is None:
            top += 1
            db.execute(
                "INSERT INTO clients (id, name, stream, position, fields) VALUES (?,?,?,?,?)",
                (client.id, client.name, client.stream, top, fields),
            )
            added += 1
        elif (row["name"], row["stream"], row["fields"]) == (client.name, client.stream, fields):
            unchanged += 1
        else:
            db.execute(
                "UPDATE clients SET name = ?, stream = ?, fields = ? WHERE id = ?",
                (client.name, client.stream, fields, client.id),
            )
            updated += 1
    return added, updated, unchanged


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


_OPTIONAL_FOR_READING = {("leases", "beat")}
"""Columns a read-only command does without (it reads a store a writer has not upgraded yet)."""


def _current(db: sqlite3.Connection, *, reading: bool = False) -> bool:
    """True if the store already has this version's tables and columns (read without writing)."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:
        return False  # a new file: no meta table yet
    if row is None or row[0] != str(SCHEMA_VERSION):
        return False
    for table, columns in _ADDED_COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        needed = {c for c in columns if not (reading and (table, c) in _OPTIONAL_FOR_READING)}
        if not needed <= have:
            return False
    return True


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes: for status, history, health and the like, so they work on
    a store that is busy, read-only, or on a full disk. In a directory where SQLite cannot create
    its shared-memory file, the file is read as immutable (no other process can be writing it)."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_SECONDS)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        db = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None)
    db.row_factory = sqlite3.Row
    if not _current(db, reading=True):
        db.close()
        raise StoreError(
            f"the SQLite store {str(path)!r} was written by an older fnf and needs an upgrade that a "
            "read-only command cannot make: run any command that writes (fnf run, fnf clients import) once"
        )
    return db


def _locked(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)


def explain(exc: sqlite3.Error, path: Path | None = None, busy: float = BUSY_SECONDS) -> str:
    """What a SQLite error means for the operator, and what to do about it."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    where = f" ({str(path.parent)!r})" if path is not None else ""
    if name.startswith("SQLITE_FULL") or "disk is full" in str(exc):
        return f"the disk is full{where}: free some space, then run again"
    if _locked(exc):
        blockers = _blockers(path) if path is not None else ""
        return (
            f"another process held the store locked for more than {busy:g} s (FNF_DB_BUSY_SECONDS){blockers}; "
            "if it is hung or suspended, end it (it may be a shell or a backup tool)"
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in str(exc):
        return f"the file or its directory is read-only{where}: a run writes both (its journal lives beside the file)"
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in str(exc):
        return f"the disk reported an I/O error{where}{_free(path)} (full, read-only or failing?): {exc}"
    if name.startswith("SQLITE_NOTADB") or "not a database" in str(exc) or name.startswith("SQLITE_CORRUPT"):
        return f"{exc}; check that FNF_DB points to an fnf database"
    return str(exc)


def _free(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return ""
    return f", {stat.f_bavail * stat.f_frsize / 1e6:.1f} MB free there"


def _blockers(path: Path) -> str:
    """``: held by pid N (command)`` for the other processes that have the store open, if visible."""
    from fnf.proc import linux as procs

    found = procs.openers(path)
    if not found:
        return ""
    return ": open in " + ", ".join(f"pid {pid} ({command})" for pid, command in found[:3])
