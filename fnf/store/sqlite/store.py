"""The embedded default store: one SQLite file, WAL journal, one transaction per state change.

WAL with ``synchronous=NORMAL`` survives a killed process without losing a committed
transaction; ``BEGIN IMMEDIATE`` serialises lease decisions between runs on one machine.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from fnf import host
from fnf.clock import iso
from fnf.errors import LeaseLostError, StoreError, UsageError
from fnf.models import Client, JobState, JobType, Lease, Outcome, RunRecord, StateUpdate, Sweep
from fnf.store.base import (
    Acquired,
    Busy,
    ImportReport,
    LeaseJudge,
    RunFinish,
    RunProgress,
    RunStates,
    Store,
    Unusable,
    claim,
    taken_over_note,
    unassigned,
)
from fnf.store.ondemand import StatesOnDemand
from fnf.store.sqlite.connection import Connection
from fnf.store.sqlite.rows import (
    _LEASES,
    MARK_COLUMNS,
    _at,
    _client,
    _import_batch,
    _insert_run,
    _lease,
    _marks,
    _refused,
    _run,
    _states,
    _sweep,
    _write_states,
)
from fnf.store.sqlite.schema import BUSY_SECONDS, create_private

IMPORT_BATCH = 500
"""Clients written per transaction by an import."""


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
            create_private(self.path)
        self._conn = Connection(self.path, readonly=readonly, busy=busy)
        self._db = self._conn.db
        self._tx = self._conn.tx
        self._query = self._conn.query
        self.bounded = self._conn.bounded  # type: ignore[method-assign]
        self.check_identity = self._conn.check_identity

    def close(self) -> None:
        self._db.close()

    # -- clients -------------------------------------------------------------------------
    def list_clients(self, stream: int | None = None) -> list[Client]:
        if stream is None:
            rows = self._conn.rows("SELECT * FROM clients ORDER BY position, id")
        else:
            rows = self._conn.rows("SELECT * FROM clients WHERE stream = ? ORDER BY position, id", (stream,))
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
        return _states(rows)

    def run_states(self, job_type: JobType, stream: int) -> RunStates:
        """Four columns of every state for selection; each full state when the run asks for it."""
        rows = self._conn.rows(
            f"""SELECT {MARK_COLUMNS} FROM client_jobs j JOIN clients c ON c.id = j.client_id
                WHERE j.job_type = ? AND c.stream = ?""",
            (job_type.value, stream),
        )
        marks = _marks(rows)
        return RunStates(marks, StatesOnDemand(lambda client_id: self._state_of(client_id, job_type), marks))

    def _state_of(self, client_id: str, job_type: JobType) -> JobState | None:
        rows = self._query(
            "SELECT * FROM client_jobs WHERE client_id = ? AND job_type = ?", (client_id, job_type.value)
        )
        return _states(rows).get(client_id)

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
                       failure_kinds = ?, stopped_at = ? WHERE run_id = ?""",
                (
                    counts.completed,
                    counts.failed,
                    counts.timed_out,
                    counts.remaining,
                    counts.failure_kinds,
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
        with self._tx() as db:
            held = [lease for t in job_types if (lease := self._lease(db, t, run.stream)) is not None]
            verdict = claim(held, is_dead)
            if isinstance(verdict, Busy):
                return verdict
            for lease in verdict.taken_over:
                db.execute(
                    """UPDATE runs SET outcome = ?, ended_at = heartbeat_at,
                           message = COALESCE(message, ?)
                       WHERE run_id = ? AND outcome IS NULL""",
                    (
                        Outcome.ABANDONED.value,
                        taken_over_note(run.run_id),
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
                        host.beat_stamp(),
                    ),
                )
        return verdict

    def _lease(self, db: sqlite3.Connection, job_type: JobType, stream: int) -> Lease | None:
        row = db.execute(f"{_LEASES} WHERE l.job_type = ? AND l.stream = ?", (job_type.value, stream)).fetchone()
        return _lease(row) if row else None

    def heartbeat(self, run_id: str, now: datetime) -> bool:
        with self._tx() as db:
            held = db.execute(
                "UPDATE leases SET heartbeat_at = ?, beat = ? WHERE run_id = ?", (iso(now), host.beat_stamp(), run_id)
            ).rowcount
            db.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ?", (iso(now), run_id))
        return held > 0

    def finish_run(self, finish: RunFinish) -> None:
        counts = finish.counts
        with self._tx() as db:
            db.execute(
                """UPDATE runs SET ended_at = ?, outcome = ?, completed = ?, failed = ?,
                       timed_out = ?, remaining = ?, skipped = ?, failure_kinds = ?, stopped_at = ?,
                       message = ?, alerts = ?
                   WHERE run_id = ? AND (outcome IS NULL OR outcome = ?)""",
                (
                    iso(finish.ended_at),
                    finish.outcome.value,
                    counts.completed,
                    counts.failed,
                    counts.timed_out,
                    counts.remaining,
                    counts.skipped,
                    counts.failure_kinds,
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

    def layout_problems(self) -> list[str]:
        result = self.integrity_check()
        return [] if result == "ok" else [f"integrity check: {result}"]
