"""The nouns of fnf: clients, job types, statuses, job states, runs, sweeps and leases.

Records are frozen dataclasses: a state change is a new record written to the store, never a
mutation that could be half-applied.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobType(StrEnum):
    LEAD_SCORING = "lead_scoring"
    POST_HARVESTING = "post_harvesting"
    POST_SCORING = "post_scoring"

    @property
    def short(self) -> str:
        """The abbreviation used in job ids (``job_lead_stream1_...``)."""
        return _SHORT[self]

    @property
    def label(self) -> str:
        """The human name operators know from their tables ("Lead Scoring")."""
        return _LABEL[self]

    @property
    def count_label(self) -> str:
        """The name of the count of the last run ("Leads Scored")."""
        return _COUNT_LABEL[self]


_SHORT = {
    JobType.LEAD_SCORING: "lead",
    JobType.POST_HARVESTING: "harvest",
    JobType.POST_SCORING: "postscore",
}
_LABEL = {
    JobType.LEAD_SCORING: "Lead Scoring",
    JobType.POST_HARVESTING: "Post Harvesting",
    JobType.POST_SCORING: "Post Scoring",
}
_COUNT_LABEL = {
    JobType.LEAD_SCORING: "Leads Scored",
    JobType.POST_HARVESTING: "Posts Harvested",
    JobType.POST_SCORING: "Posts Scored",
}

ALL = "all"
"""The run type that does every job type for one client, in order, before the next client."""

RUN_TYPES: tuple[str, ...] = (*(t.value for t in JobType), ALL)

MAX_STREAM = 100_000
"""Streams are numbered 1 to MAX_STREAM, written with the digits 0-9 only, wherever they come from
(a flag, a CSV file, the HTTP trigger): one rule, so that no value is accepted in one place and
refused, overflowed or silently rounded in another."""

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unprintable(text: str) -> str | None:
    """The first character of ``text`` that would forge or garble a log line or a table (a NUL,
    a newline, an escape, a right-to-left override), or None."""
    for char in text:
        if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS:
            return char
    return None


def shown(text: str, *, lines: bool = False) -> str:
    """``text`` safe to print on one line: each control or bidi-control character written as its
    escape (``\\n``, ``\\x1b``, ``\\u202e``), so a record or a child cannot forge a log line or
    repaint a terminal. ``lines`` keeps newlines, for fnf's own multi-line messages."""
    if unprintable(text) is None:
        return text
    kept = "\n" if lines else ""
    return "".join(repr(char)[1:-1] if unprintable(char) and char not in kept else char for char in text)


MESSAGE_MAX = 2000
"""Characters of a stored message (a client's or a run's). Longer ones keep their head and their
tail, where a failure's reason usually is."""


def bounded(text: str | None, limit: int = MESSAGE_MAX) -> str | None:
    """``text`` cut to at most ``limit`` characters, keeping a quarter from the head and the rest
    from the tail, with the number of characters left out between them."""
    if text is None or len(text) <= limit:
        return text
    head = limit // 4
    marker = f" [... {len(text) - limit} characters cut ...] "
    tail = limit - head - len(marker)
    return text[:head] + marker + text[len(text) - tail :]


def job_types_of(run_type: str) -> tuple[JobType, ...]:
    """The job types a run of ``run_type`` performs, in the order it performs them."""
    if run_type == ALL:
        return tuple(JobType)
    return (JobType(run_type),)


class Status(StrEnum):
    """A client's status for one job type. The names are the ones operators filter on."""

    STARTED = "STARTED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CLIENT_TIMEOUT_KILLED = "CLIENT_TIMEOUT_KILLED"
    JOB_TIMEOUT_KILLED = "JOB_TIMEOUT_KILLED"
    FAILED = "FAILED"

    @property
    def in_progress(self) -> bool:
        return self in (Status.STARTED, Status.RUNNING)


class Outcome(StrEnum):
    """How a run ended."""

    COMPLETED = "completed"
    STOPPED_AT_DEADLINE = "stopped_at_deadline"
    INTERRUPTED = "interrupted"
    ABANDONED = "abandoned"
    FAILED = "failed"
    BUSY = "busy"
    """The stream was held by another live run; this run did nothing."""
    NO_CLIENTS = "no_clients"
    """The stream has no clients (a typo in a cron line, or clients not yet assigned): nothing ran."""
    CIRCUIT_OPEN = "circuit_open"
    """Clients failed in a row (FNF_CIRCUIT_BREAKER_FAILURES): the run stopped starting clients."""


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    stream: int | None
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Extra columns from the import; handlers receive them untouched."""


@dataclass(frozen=True)
class JobState:
    """Where one client stands for one job type."""

    status: Status
    job_id: str
    run_id: str
    sweep_id: str
    last_run_date: datetime
    last_run_seconds: float | None = None
    count: int | None = None
    message: str | None = None
    """Why it failed or was killed, or a warning about a completed run."""
    timeouts_in_row: int = 0
    """Consecutive attempts that hit the client's own limit; quarantine counts these."""
    quarantined_at: datetime | None = None
    """Set when the client is quarantined: later sweeps skip it until an operator releases it."""
    alert_kind: str | None = None
    """The last alert fnf sent about this client and job type (Last Alert Type)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", bounded(self.message))

    alert_at: datetime | None = None
    recent_seconds: tuple[float, ...] = ()
    """Durations of the last attempts that ran to an end (at most ``RECENT_RUNS``), oldest first."""
    failure_kind: str | None = None
    """Why the last attempt failed (``fnf.failures.FailureKind``); None unless it failed or timed out."""

    def typical_seconds(self) -> float | None:
        """The p90 of the recent durations: what a plan expects this client to take."""
        return p90(self.recent_seconds)


RECENT_RUNS = 10


def median(values: tuple[float, ...] | list[float]) -> float | None:
    """The middle value (mean of the two middle ones for an even count); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def p90(values: tuple[float, ...] | list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]  # nearest rank


@dataclass(frozen=True)
class StateUpdate:
    client_id: str
    job_type: JobType
    state: JobState
    replaces: JobState | None = None
    """The state this one replaces (for a start): what a store that writes before it can check
    restores when the start is refused."""


@dataclass(frozen=True)
class Sweep:
    """One pass of a (job type, stream) over all of the stream's clients."""

    id: str
    job_type: JobType
    stream: int
    number: int
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None = None
    close_reason: str | None = None


@dataclass(frozen=True)
class Holder:
    """Who runs: enough to prove later whether that process is still alive and still the same."""

    run_id: str
    host: str
    pid: int
    boot_id: str
    pid_start: str
    """The process start time in kernel clock ticks; with ``boot_id`` it tells a reused pid."""


@dataclass(frozen=True)
class Lease:
    job_type: JobType
    stream: int
    holder: Holder
    acquired_at: datetime
    heartbeat_at: datetime
    stale_after_seconds: float
    beat: str = ""
    """The holder's never-stepped clock at its last heartbeat (``host.beat_stamp``), where the
    store keeps it: a run of the same boot judges the heartbeat's age by it, not by wall clocks."""


@dataclass(frozen=True)
class RunCounts:
    completed: int = 0
    failed: int = 0
    timed_out: int = 0
    remaining: int = 0
    skipped: int = 0
    """Clients of the stream the run did not process on purpose: quarantined, or records that
    cannot be processed as they stand. Counted so that a skip is never silent."""
    failure_kinds: str = ""
    """The failed and timed-out clients by kind, ``"auth=35 crash=3"`` (``fnf.failures``)."""


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    run_type: str
    stream: int
    job_id: str
    holder: Holder
    started_at: datetime
    heartbeat_at: datetime
    ended_at: datetime | None = None
    outcome: Outcome | None = None
    counts: RunCounts = RunCounts()
    stopped_at: str | None = None
    """The client the run stopped at (deadline, signal), where the next run resumes."""
    message: str | None = None
    alerts: str | None = None
    """The alerts the run sent, such as ``client_timeout x3, job_deadline``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", bounded(self.message))


def format_seconds(values: tuple[float, ...]) -> str:
    """``"12.5 13.1 9"``: how recent durations are kept in a text column or field."""
    return " ".join(f"{v:.3f}".rstrip("0").rstrip(".") for v in values)


def parse_seconds(text: str | None) -> tuple[float, ...]:
    values = []
    for part in (text or "").split():
        try:
            values.append(float(part))
        except ValueError:
            continue
    return tuple(values[-RECENT_RUNS:])


def job_id_for(job_type: JobType | str, stream: int, started: datetime) -> str:
    """``job_lead_stream1_20250920_143022``: the id operators see on each client, UTC."""
    short = job_type.short if isinstance(job_type, JobType) else str(job_type)
    return f"job_{short}_stream{stream}_{started.strftime('%Y%m%d_%H%M%S')}"


def human_duration(seconds: float | None) -> str:
    """``45 seconds``, ``2.5 minutes``, ``1.2 hours``: the Last Run Time operators read."""
    if seconds is None:
        return ""
    if seconds < 60:
        value = round(seconds, 2 if seconds < 1 else 1)
        text = f"{value:g}"
        return f"{text} second" if value == 1 else f"{text} seconds"
    if seconds < 3600:
        value = round(seconds / 60, 1)
        return f"{value:g} minute" if value == 1 else f"{value:g} minutes"
    if seconds < 2 * 86400:
        value = round(seconds / 3600, 1)
        return f"{value:g} hour" if value == 1 else f"{value:g} hours"
    return f"{round(seconds / 86400, 1):g} days"
