"""Rows to records and records to rows: the SQL the store's methods share."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from fnf.clock import iso, parse_iso
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
from fnf.store.base import RunProgress

_LEASES = """SELECT l.*, r.host, r.pid, r.boot_id, r.pid_start FROM leases l
             LEFT JOIN runs r ON r.run_id = l.run_id"""


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
                   quarantined_at, alert_kind, alert_at, recent_seconds, failure_kind)
               SELECT ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,? WHERE EXISTS (SELECT 1 FROM clients WHERE id = ?)
               ON CONFLICT (client_id, job_type) DO UPDATE SET
                   status = excluded.status, job_id = excluded.job_id,
                   run_id = excluded.run_id, sweep_id = excluded.sweep_id,
                   last_run_date = excluded.last_run_date,
                   last_run_seconds = excluded.last_run_seconds,
                   count = excluded.count, message = excluded.message,
                   timeouts_in_row = excluded.timeouts_in_row,
                   quarantined_at = excluded.quarantined_at,
                   alert_kind = excluded.alert_kind, alert_at = excluded.alert_at,
                   recent_seconds = excluded.recent_seconds, failure_kind = excluded.failure_kind""",
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
                state.failure_kind,
                update.client_id,
            ),
        )


def _insert_run(db: sqlite3.Connection, run: RunRecord) -> None:
    holder, counts = run.holder, run.counts
    db.execute(
        """INSERT INTO runs (run_id, run_type, stream, job_id, host, pid, boot_id, pid_start,
               started_at, heartbeat_at, ended_at, outcome, completed, failed, timed_out,
               remaining, skipped, stopped_at, message, alerts, failure_kinds)
           VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
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
            counts.failure_kinds,
        ),
    )


def _at(text: str | None) -> datetime:
    moment = parse_iso(text)
    assert moment is not None
    return moment


_STATUS = {status.value: status for status in Status}
"""A dict lookup, not ``Status(...)``: a run on a 100,000-client stream reads 100,000 states
before its first client starts."""


class Mark(NamedTuple):
    """What selection reads of a state (``fnf.store.base.Marked``), from four columns."""

    status: Status
    run_id: str
    sweep_id: str
    quarantined_at: datetime | None


MARK_COLUMNS = "j.client_id, j.status, j.run_id, j.sweep_id, j.quarantined_at"


def _marks(rows: Iterable[sqlite3.Row]) -> dict[str, Mark]:
    return {row[0]: Mark(_status(row[1]), row[2], row[3], parse_iso(row[4])) for row in rows}


def _status(text: str) -> Status:
    return _STATUS[text] if text in _STATUS else Status(text)  # Status() names an unknown value


def _client(row: sqlite3.Row) -> Client:
    fields = row["fields"]
    return Client(row["id"], row["name"], row["stream"], {} if fields == "{}" else json.loads(fields))


def _states(rows: Sequence[sqlite3.Row]) -> dict[str, JobState]:
    """Each row's client id and state; whether the store has ``failure_kind`` yet (a read-only
    command may open a store its writer has not upgraded) is looked up once, not per row."""
    kinded = bool(rows) and "failure_kind" in rows[0].keys()  # noqa: SIM118 - a Row's "in" looks at values
    return {row["client_id"]: _state(row, kinded) for row in rows}


def _state(row: sqlite3.Row, kinded: bool) -> JobState:
    recent = row["recent_seconds"]
    return JobState(
        status=_status(row["status"]),
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
        recent_seconds=parse_seconds(recent) if recent else (),
        failure_kind=row["failure_kind"] if kinded else None,
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
        beat=_optional(row, "beat") or "",
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
        counts=RunCounts(
            row["completed"],
            row["failed"],
            row["timed_out"],
            row["remaining"],
            row["skipped"],
            _optional(row, "failure_kinds") or "",
        ),
        stopped_at=row["stopped_at"],
        message=row["message"],
        alerts=row["alerts"],
    )


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


def _optional(row: sqlite3.Row, column: str) -> str | None:
    """A column a read-only command may find missing (a store its writer has not upgraded yet)."""
    return row[column] if column in row.keys() else None  # noqa: SIM118 - a Row's "in" looks at values
