"""What fnf needs in an Airtable base: tables, fields, their types and select options.

Field names default to the ones operators already have (``Lead Scoring Job Status`` ...); each can
be renamed with ``AIRTABLE_FIELD_<KEY>``, where KEY is the default name in capitals with
underscores (``AIRTABLE_FIELD_CLIENT_NAME=Company``), prefixed with ``RUNS_`` or ``SWEEPS_`` for the
fields of those tables. This module is pure data and comparison; it never talks to Airtable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fnf.models import JobType, Outcome, Status

_TEXT = frozenset({"singleLineText", "multilineText"})
_DATE_OPTIONS = {"dateFormat": {"name": "iso"}, "timeFormat": {"name": "24hour"}, "timeZone": "utc"}


@dataclass(frozen=True)
class FieldSpec:
    key: str
    default: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)
    accepts: frozenset[str] = frozenset()
    """Other field types that hold the value just as well (a status kept as plain text)."""
    grows: bool = False
    """A select whose options fnf adds by writing them (with ``typecast``): a base that lacks an
    option added by a later version keeps running."""
    optional: bool = False
    """Added by a later version: fnf runs without it (and does not write it) until ``fnf schema
    apply`` adds it, so that an upgrade never stops a base's scheduled runs."""

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(c["name"] for c in self.options.get("choices", ()))

    def create_spec(self, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": name, "type": self.type}
        if self.options:
            spec["options"] = dict(self.options)
        return spec


def _slug(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


def _text(default: str, prefix: str = "", *, long: bool = False) -> FieldSpec:
    kind = "multilineText" if long else "singleLineText"
    return FieldSpec(prefix + _slug(default), default, kind, accepts=_TEXT)


def _number(default: str, prefix: str = "", precision: int = 0) -> FieldSpec:
    return FieldSpec(prefix + _slug(default), default, "number", {"precision": precision})


def _date(default: str, prefix: str = "") -> FieldSpec:
    return FieldSpec(prefix + _slug(default), default, "dateTime", _DATE_OPTIONS)


def _select(default: str, values: Sequence[str], prefix: str = "") -> FieldSpec:
    choices = [{"name": v} for v in values]
    text = frozenset({"singleLineText"})
    return FieldSpec(prefix + _slug(default), default, "singleSelect", {"choices": choices}, text)


# -- the Clients table ------------------------------------------------------------------------
CLIENT_NAME = _text("Client Name")
CLIENT_ID = _text("Client ID")
STREAM = _number("Processing Stream")
ORDER = _number("Sweep Order")
CLIENT_DATA = _text("Client Fields", long=True)

ROLES = ("status", "job_id", "date", "time", "count", "message", "state")
"""The fields per job type: the origin's five, a readable message, and fnf's own bookkeeping
(run, sweep, exact seconds, streaks, quarantine, alerts) as one JSON cell, so that the operators'
table gains two columns per job type instead of eleven."""

_COUNT_TYPES = frozenset({"number", *_TEXT})
_DATE_TYPES = frozenset({"dateTime", "date"})
_TIME_TYPES = frozenset({*_TEXT, "number"})


def _job_fields(job_type: JobType) -> dict[str, FieldSpec]:
    label = job_type.label
    date = _date(f"{label} Last Run Date")
    count = _number(f"{job_type.count_label} Last Run")
    time = _text(f"{label} Last Run Time")
    return {
        "status": _select(f"{label} Job Status", [s.value for s in Status]),
        "job_id": _text(f"{label} Job ID"),
        "date": FieldSpec(date.key, date.default, date.type, date.options, _DATE_TYPES),
        "time": FieldSpec(time.key, time.default, time.type, time.options, _TIME_TYPES),
        "count": FieldSpec(count.key, count.default, count.type, count.options, _COUNT_TYPES),
        "message": _text(f"{label} Message", long=True),
        "state": _text(f"{label} fnf State", long=True),
    }


def _legacy_fields(job_type: JobType) -> dict[str, FieldSpec]:
    """The per-role fields earlier versions of fnf created; ``fnf schema apply`` moves their
    content into the job type's state cell and leaves them for the operator to delete."""
    label = job_type.label
    return {
        "run_id": _text(f"{label} Run ID"),
        "sweep_id": _text(f"{label} Sweep ID"),
        "seconds": _number(f"{label} Last Run Seconds", precision=3),
        "timeouts_in_row": _number(f"{label} Timeouts In A Row"),
        "quarantined_at": _date(f"{label} Quarantined At"),
        "alert_kind": _text(f"{label} Last Alert Type"),
        "alert_at": _date(f"{label} Last Alert Time"),
        "recent_seconds": _text(f"{label} Recent Run Seconds"),
    }


LEGACY_FIELDS: dict[JobType, dict[str, FieldSpec]] = {t: _legacy_fields(t) for t in JobType}
JOB_FIELDS: dict[JobType, dict[str, FieldSpec]] = {t: _job_fields(t) for t in JobType}
CLIENT_FIELDS: tuple[FieldSpec, ...] = (
    CLIENT_NAME,
    CLIENT_ID,
    STREAM,
    ORDER,
    CLIENT_DATA,
    *(spec for t in JobType for spec in JOB_FIELDS[t].values()),
)

# -- the Job Runs table -----------------------------------------------------------------------
R = "RUNS_"
RUN_ID = _text("Run ID", R)
RUN_JOB_ID = _text("Job ID", R)
RUN_TYPE = _text("Run Type", R)
RUN_STREAM = _number("Stream", R)
HOST = _text("Host", R)
PID = _number("PID", R)
BOOT_ID = _text("Boot ID", R)
PID_START = _text("PID Start", R)
STARTED_AT = _date("Started At", R)
HEARTBEAT_AT = _date("Heartbeat At", R)
ENDED_AT = _date("Ended At", R)
OUTCOME = replace(_select("Outcome", [o.value for o in Outcome], R), grows=True)
COMPLETED = _number("Completed", R)
FAILED = _number("Failed", R)
TIMED_OUT = _number("Timed Out", R)
REMAINING = _number("Remaining", R)
SKIPPED = _number("Skipped", R)
STOPPED_AT = _text("Stopped At", R)
RUN_MESSAGE = _text("Message", R, long=True)
LEASES = _text("Leases", R)
STALE_AFTER = _number("Stale After Seconds", R, precision=3)
RUN_ALERTS = _text("Alerts", R)
FAILURE_KINDS = replace(_text("Failure Kinds", R), optional=True)
RUN_FIELDS: tuple[FieldSpec, ...] = (
    RUN_ID,
    RUN_JOB_ID,
    RUN_TYPE,
    RUN_STREAM,
    HOST,
    PID,
    BOOT_ID,
    PID_START,
    STARTED_AT,
    HEARTBEAT_AT,
    ENDED_AT,
    OUTCOME,
    COMPLETED,
    FAILED,
    TIMED_OUT,
    REMAINING,
    SKIPPED,
    STOPPED_AT,
    RUN_MESSAGE,
    LEASES,
    STALE_AFTER,
    RUN_ALERTS,
    FAILURE_KINDS,
)

# -- the Sweeps table -------------------------------------------------------------------------
S = "SWEEPS_"
SWEEP_ID = _text("Sweep ID", S)
SWEEP_TYPE = _text("Job Type", S)
SWEEP_STREAM = _number("Stream", S)
SWEEP_NUMBER = _number("Number", S)
OPENED_AT = _date("Opened At", S)
OPENED_BY = _text("Opened By", S)
CLOSED_AT = _date("Closed At", S)
CLOSE_REASON = _text("Close Reason", S)
SWEEP_FIELDS: tuple[FieldSpec, ...] = (
    SWEEP_ID,
    SWEEP_TYPE,
    SWEEP_STREAM,
    SWEEP_NUMBER,
    OPENED_AT,
    OPENED_BY,
    CLOSED_AT,
    CLOSE_REASON,
)

FIELD_KEYS: frozenset[str] = frozenset(s.key for s in (*CLIENT_FIELDS, *RUN_FIELDS, *SWEEP_FIELDS))


@dataclass(frozen=True)
class TableSpec:
    role: str
    name: str
    fields: tuple[FieldSpec, ...]
    setting: str
    """The variable that names this table, quoted in messages."""


@dataclass(frozen=True)
class Layout:
    """The base's actual table and field names: the defaults with the operator's renames applied."""

    clients: str = "Clients"
    runs: str = "Job Runs"
    sweeps: str = "Sweeps"
    renames: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, spec: FieldSpec) -> str:
        return self.renames.get(spec.key, spec.default)

    def job(self, job_type: JobType, role: str) -> str:
        return self(JOB_FIELDS[job_type][role])

    def optional(self) -> set[str]:
        """The names of the fields fnf can run without (``FieldSpec.optional``)."""
        return {self(spec) for table in self.tables() for spec in table.fields if spec.optional}

    def tables(self) -> tuple[TableSpec, ...]:
        return (
            TableSpec("clients", self.clients, CLIENT_FIELDS, "AIRTABLE_CLIENTS_TABLE"),
            TableSpec("runs", self.runs, RUN_FIELDS, "AIRTABLE_RUNS_TABLE"),
            TableSpec("sweeps", self.sweeps, SWEEP_FIELDS, "AIRTABLE_SWEEPS_TABLE"),
        )


# -- comparing a base with the layout ---------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    table: str
    field: str | None
    what: str
    """'missing table', 'missing field', 'wrong type' or 'missing options'."""
    detail: str
    fixable: bool
    optional: bool = False
    """A missing field fnf runs without (``FieldSpec.optional``): reported, never blocking."""

    def __str__(self) -> str:
        where = f"table {self.table!r}" if self.field is None else f"field {self.field!r} in table {self.table!r}"
        return f"{where}: {self.detail}"


def compare(layout: Layout, tables_meta: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Every difference between the base (metadata API ``tables``) and what fnf needs."""
    by_name = {t["name"]: t for t in tables_meta}
    problems: list[Problem] = []
    for table in layout.tables():
        meta = by_name.get(table.name)
        if meta is None:
            detail = f"missing (set {table.setting} if it has another name, or run: fnf schema apply)"
            problems.append(Problem(table.name, None, "missing table", detail, True))
            continue
        fields = {f["name"]: f for f in meta.get("fields", [])}
        for spec in table.fields:
            problems.extend(_field_problems(layout, table.name, spec, fields.get(layout(spec))))
    return problems


def _field_problems(layout: Layout, table: str, spec: FieldSpec, meta: Mapping[str, Any] | None) -> list[Problem]:
    name = layout(spec)
    if meta is None:
        detail = (
            f"missing (run: fnf schema apply; or, if the base calls it something else, "
            f"set AIRTABLE_FIELD_{spec.key} to that name)"
        )
        return [Problem(table, name, "missing field", detail, True, spec.optional)]
    actual = meta.get("type")
    if actual != spec.type and actual not in spec.accepts:
        detail = (
            f"is of type {actual!r} but fnf needs {spec.type!r}: fnf never retypes a field; "
            "change its type in Airtable, or point AIRTABLE_FIELD_" + spec.key + " at another field"
        )
        return [Problem(table, name, "wrong type", detail, False)]
    if actual == "singleSelect" and spec.choices:
        have = {c.get("name") for c in (meta.get("options") or {}).get("choices", [])}
        missing = [c for c in spec.choices if c not in have]
        if missing:
            detail = f"lacks the select option(s) {', '.join(missing)} (run: fnf schema apply)"
            return [Problem(table, name, "missing options", detail, True, spec.grows)]
    return []


def missing_choices(layout: Layout, table: TableSpec, meta: Mapping[str, Any]) -> dict[str, list[str]]:
    """Field name -> select options it lacks, for the fields of ``table`` that exist as selects."""
    fields = {f["name"]: f for f in meta.get("fields", [])}
    out: dict[str, list[str]] = {}
    for spec in table.fields:
        found = fields.get(layout(spec))
        if found is None or found.get("type") != "singleSelect" or not spec.choices:
            continue
        have = {c.get("name") for c in (found.get("options") or {}).get("choices", [])}
        lacking = [c for c in spec.choices if c not in have]
        if lacking:
            out[layout(spec)] = lacking
    return out
