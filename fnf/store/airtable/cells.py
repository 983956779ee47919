"""How one job state becomes cells of an operator's Clients table, and back.

Operators type the origin's fields as they see fit: ``Last Run Date`` as a date or a date-time,
``Leads Scored Last Run`` as a number or as text ("23"), a status as a single select or as text.
fnf writes each value in the form its field's type holds, and reads every form back. What only
fnf reads (run and sweep ids, exact seconds and moment, streaks, quarantine, alerts, recent
durations) lives in one JSON cell per job type, so the table stays readable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fnf.clock import iso, parse_iso
from fnf.models import RECENT_RUNS, JobState, Status, human_duration

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def moment(value: Any) -> datetime | None:
    """A date-time cell (``2025-09-20T14:30:22.000Z``) or a date cell (``2025-09-20``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def number(value: Any) -> float | None:
    """A number cell, or a text cell holding a number ("23", "2.5")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def date_cell(value: datetime | None, field_type: str | None) -> str | None:
    if value is None:
        return None
    text = iso(value)
    return text[:10] if field_type == "date" and text else text


def count_cell(value: int | None, field_type: str | None) -> int | str | None:
    if value is None:
        return None
    return value if field_type in (None, "number") else str(value)


def time_cell(seconds: float | None, field_type: str | None) -> float | str | None:
    if seconds is None:
        return None
    return round(seconds, 3) if field_type == "number" else human_duration(seconds)


def bookkeeping(state: JobState) -> str:
    """The JSON cell: only what differs from a fresh state, keys sorted, so it stays short."""
    data: dict[str, Any] = {"run": state.run_id, "sweep": state.sweep_id, "at": iso(state.last_run_date)}
    if state.last_run_seconds is not None:
        data["seconds"] = round(state.last_run_seconds, 3)
    if state.timeouts_in_row:
        data["timeouts_in_row"] = state.timeouts_in_row
    if state.quarantined_at is not None:
        data["quarantined_at"] = iso(state.quarantined_at)
    if state.alert_kind:
        data["alert"] = state.alert_kind
        data["alert_at"] = iso(state.alert_at)
    if state.recent_seconds:
        data["recent"] = [round(v, 3) for v in state.recent_seconds[-RECENT_RUNS:]]
    if state.failure_kind:
        data["kind"] = state.failure_kind
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def parse_bookkeeping(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def job_state(cells: Mapping[str, Any], status: Status) -> JobState:
    """A job state from the cells of one record (keys: the roles of ``schema.ROLES``)."""
    kept = parse_bookkeeping(cells.get("state"))
    seconds = number(kept.get("seconds"))
    count = number(cells.get("count"))
    recent = kept.get("recent")
    return JobState(
        status=status,
        job_id=str(cells.get("job_id") or ""),
        run_id=str(kept.get("run") or ""),
        sweep_id=str(kept.get("sweep") or ""),
        last_run_date=moment(kept.get("at")) or moment(cells.get("date")) or _EPOCH,
        last_run_seconds=seconds,
        count=int(count) if count is not None else None,
        message=cells.get("message") or None,
        timeouts_in_row=int(number(kept.get("timeouts_in_row")) or 0),
        quarantined_at=moment(kept.get("quarantined_at")),
        alert_kind=kept.get("alert") or None,
        alert_at=moment(kept.get("alert_at")),
        recent_seconds=tuple(float(v) for v in recent if number(v) is not None)[-RECENT_RUNS:]
        if isinstance(recent, list)
        else (),
        failure_kind=str(kept["kind"]) if kept.get("kind") else None,
    )
