"""Airtable records <-> fnf's records: clients, job states, runs, leases and sweeps.

Pure mapping through the base's ``Layout`` (the field names an operator configured); no
requests. Cells an operator typed by hand are read leniently and named in a warning once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fnf.clock import iso
from fnf.models import Client, Holder, JobState, JobType, Lease, Outcome, RunCounts, RunRecord, Status, Sweep
from fnf.store.airtable import cells
from fnf.store.airtable import schema as sc
from fnf.store.base import RunFinish, RunProgress

log = logging.getLogger("fnf.airtable")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Rec = dict[str, Any]


class OnceLog:
    """Warnings about one record's cell, each said once per process (a run lists the stream often)."""

    def __init__(self) -> None:
        self._said: set[str] = set()

    def warn(self, key: str, message: str, *args: object) -> None:
        if key not in self._said:
            self._said.add(key)
            log.warning(message, *args)


class Records:
    def __init__(self, layout: sc.Layout, warnings: OnceLog, absent: set[str]) -> None:
        self.layout = layout
        self.warnings = warnings
        self.absent = absent
        """Optional fields the base lacks: left out of every write."""

    def f(self, spec: sc.FieldSpec) -> str:
        return self.layout(spec)

    # -- clients -------------------------------------------------------------------------
    def client_fields(self) -> list[str]:
        return [self.f(s) for s in (sc.CLIENT_ID, sc.CLIENT_NAME, sc.STREAM, sc.ORDER, sc.CLIENT_DATA)]

    def order_key(self, record: Rec) -> tuple[bool, float, str, str]:
        """Sweep order: ``Sweep Order`` where set, then creation time, then the record id."""
        order = record["fields"].get(self.f(sc.ORDER))
        number = float(order) if isinstance(order, int | float) else None
        return (number is None, number or 0.0, str(record.get("createdTime", "")), record["id"])

    def client_id(self, record: Rec) -> str:
        """``Client ID`` when set, else the record's own id, which lasts as long as the record."""
        value = record["fields"].get(self.f(sc.CLIENT_ID))
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value)
        return str(record["id"])

    def client(self, record: Rec) -> Client:
        values = record["fields"]
        client_id = self.client_id(record)
        name = values.get(self.f(sc.CLIENT_NAME))
        fields = self._client_data(record, client_id, values.get(self.f(sc.CLIENT_DATA)))
        return Client(client_id, "" if name is None else str(name), stream_of(values.get(self.f(sc.STREAM))), fields)

    def _client_data(self, record: Rec, client_id: str, data: Any) -> dict[str, Any]:
        if not data:
            return {}
        try:
            loaded = json.loads(data)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            return loaded
        self.warnings.warn(
            f"data:{record['id']}",
            "record %s (client %r): %s is not JSON of an object (%r); the client runs without its fields "
            'until the cell holds an object such as {"plan": "pro"}',
            record["id"],
            client_id,
            self.f(sc.CLIENT_DATA),
            str(data)[:40],
        )
        return {}

    def client_cells(self, client: Client) -> dict[str, Any]:
        return {
            self.f(sc.CLIENT_NAME): client.name,
            self.f(sc.STREAM): client.stream,
            self.f(sc.CLIENT_DATA): json.dumps(dict(client.fields), sort_keys=True) if client.fields else None,
        }

    # -- job states ----------------------------------------------------------------------
    def state(self, record_id: str, values: Mapping[str, Any], names: Mapping[str, str]) -> JobState | None:
        raw = values.get(names["status"])
        try:
            status = Status(str(raw).strip())
        except ValueError:
            self.warnings.warn(
                f"status:{record_id}:{raw}",
                "record %s: %s is %r, not a status fnf writes; treated as not yet processed",
                record_id,
                names["status"],
                raw,
            )
            return None
        return cells.job_state({role: values.get(name) for role, name in names.items()}, status)

    def state_cells(self, job_type: JobType, state: JobState | None, types: Mapping[str, str]) -> dict[str, Any]:
        """The job type's cells for ``state``, each in the form its field holds (None: cleared)."""
        name = self.layout.job
        if state is None:
            return {name(job_type, role): None for role in sc.ROLES}
        return {
            name(job_type, "status"): state.status.value,
            name(job_type, "job_id"): state.job_id,
            name(job_type, "date"): cells.date_cell(state.last_run_date, types.get(name(job_type, "date"))),
            name(job_type, "time"): cells.time_cell(state.last_run_seconds, types.get(name(job_type, "time"))),
            name(job_type, "count"): cells.count_cell(state.count, types.get(name(job_type, "count"))),
            name(job_type, "message"): state.message,
            name(job_type, "state"): cells.bookkeeping(state),
        }

    # -- runs and leases -----------------------------------------------------------------
    def run_cells(self, run: RunRecord) -> dict[str, Any]:
        holder, f = run.holder, self.f
        return {
            f(sc.RUN_ID): run.run_id,
            f(sc.RUN_JOB_ID): run.job_id,
            f(sc.RUN_TYPE): run.run_type,
            f(sc.RUN_STREAM): run.stream,
            f(sc.HOST): holder.host,
            f(sc.PID): holder.pid,
            f(sc.BOOT_ID): holder.boot_id,
            f(sc.PID_START): holder.pid_start,
            f(sc.STARTED_AT): iso(run.started_at),
            f(sc.HEARTBEAT_AT): iso(run.heartbeat_at),
            f(sc.ENDED_AT): iso(run.ended_at),
            f(sc.OUTCOME): run.outcome.value if run.outcome else None,
            **self.count_cells(run.counts),
            f(sc.STOPPED_AT): run.stopped_at,
            f(sc.RUN_MESSAGE): run.message,
            f(sc.RUN_ALERTS): run.alerts,
        }

    def count_cells(self, counts: RunCounts, *, skipped: bool = True) -> dict[str, Any]:
        f = self.f
        found: dict[str, Any] = {
            f(sc.COMPLETED): counts.completed,
            f(sc.FAILED): counts.failed,
            f(sc.TIMED_OUT): counts.timed_out,
            f(sc.REMAINING): counts.remaining,
            f(sc.FAILURE_KINDS): counts.failure_kinds or None,
        }
        if skipped:
            found[f(sc.SKIPPED)] = counts.skipped
        return {name: value for name, value in found.items() if name not in self.absent}

    def progress_cells(self, progress: RunProgress) -> dict[str, Any]:
        return {**self.count_cells(progress.counts, skipped=False), self.f(sc.STOPPED_AT): progress.stopped_at}

    def finish_cells(self, finish: RunFinish) -> dict[str, Any]:
        f = self.f
        return {
            f(sc.ENDED_AT): iso(finish.ended_at),
            f(sc.OUTCOME): finish.outcome.value,
            **self.count_cells(finish.counts),
            f(sc.STOPPED_AT): finish.stopped_at,
            f(sc.RUN_MESSAGE): finish.message,
            f(sc.RUN_ALERTS): finish.alerts,
            f(sc.LEASES): None,
        }

    def holder(self, values: Mapping[str, Any]) -> Holder:
        f = self.f
        return Holder(
            run_id=str(values.get(f(sc.RUN_ID)) or ""),
            host=str(values.get(f(sc.HOST)) or "?"),
            pid=int(values.get(f(sc.PID)) or 0),
            boot_id=str(values.get(f(sc.BOOT_ID)) or ""),
            pid_start=str(values.get(f(sc.PID_START)) or ""),
        )

    def run(self, record: Rec) -> RunRecord:
        values, f = record["fields"], self.f
        outcome = values.get(f(sc.OUTCOME))
        return RunRecord(
            run_id=str(values.get(f(sc.RUN_ID)) or ""),
            run_type=str(values.get(f(sc.RUN_TYPE)) or ""),
            stream=int(values.get(f(sc.RUN_STREAM)) or 0),
            job_id=str(values.get(f(sc.RUN_JOB_ID)) or ""),
            holder=self.holder(values),
            started_at=cells.moment(values.get(f(sc.STARTED_AT))) or EPOCH,
            heartbeat_at=cells.moment(values.get(f(sc.HEARTBEAT_AT))) or EPOCH,
            ended_at=cells.moment(values.get(f(sc.ENDED_AT))),
            outcome=Outcome(outcome) if outcome in Outcome.__members__.values() else None,
            counts=self._counts(values),
            stopped_at=values.get(f(sc.STOPPED_AT)),
            message=values.get(f(sc.RUN_MESSAGE)),
            alerts=values.get(f(sc.RUN_ALERTS)),
        )

    def _counts(self, values: Mapping[str, Any]) -> RunCounts:
        completed, failed, timed_out, remaining, skipped = (int(values.get(self.f(spec)) or 0) for spec in _COUNTS)
        kinds = str(values.get(self.f(sc.FAILURE_KINDS)) or "")
        return RunCounts(completed, failed, timed_out, remaining, skipped, kinds)

    def holds(self, values: Mapping[str, Any]) -> bool:
        """The run record still holds its leases (it has some and has not ended)."""
        return bool(values.get(self.f(sc.LEASES))) and not values.get(self.f(sc.OUTCOME))

    def leases_of(self, record: Rec) -> list[Lease]:
        values, f = record["fields"], self.f
        if values.get(f(sc.OUTCOME)):
            return []
        run = self.run(record)
        types = [JobType(t) for t in str(values.get(f(sc.LEASES)) or "").split() if t in JobType.__members__.values()]
        stale = float(values.get(f(sc.STALE_AFTER)) or 0.0)
        return [Lease(t, run.stream, run.holder, run.started_at, run.heartbeat_at, stale) for t in types]

    # -- sweeps --------------------------------------------------------------------------
    def sweep(self, record: Rec) -> Sweep:
        values, f = record["fields"], self.f
        return Sweep(
            id=str(values.get(f(sc.SWEEP_ID))),
            job_type=JobType(values.get(f(sc.SWEEP_TYPE))),
            stream=int(values.get(f(sc.SWEEP_STREAM)) or 0),
            number=int(values.get(f(sc.SWEEP_NUMBER)) or 0),
            opened_at=cells.moment(values.get(f(sc.OPENED_AT))) or EPOCH,
            opened_by=str(values.get(f(sc.OPENED_BY)) or ""),
            closed_at=cells.moment(values.get(f(sc.CLOSED_AT))),
            close_reason=values.get(f(sc.CLOSE_REASON)),
        )


_COUNTS = (sc.COMPLETED, sc.FAILED, sc.TIMED_OUT, sc.REMAINING, sc.SKIPPED)


def stream_of(value: Any) -> int | None:
    """A cell's stream number, if it holds one (1, 2.0, " 3 "); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer() and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and int(value.strip()) > 0:
        return int(value.strip())
    return None
