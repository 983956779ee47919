"""One client's attempt in flight, the slot it runs in, and why fnf stops either.

Kept apart from ``flight`` (which starts, tends and ends attempts) so that the loop, the flight
and the endings share these records without importing one another.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from fnf.config import Settings
from fnf.failures import FailureKind
from fnf.models import Client, JobState, JobType, Status, human_duration
from fnf.run.sweep import Task
from fnf.run.work import ChildResult


class Running(Protocol):
    def wait(self, timeout: float) -> ChildResult | None: ...
    def terminate(self) -> None: ...
    def kill(self, how: str = ...) -> ChildResult: ...
    def progress(self) -> dict[str, Any] | None: ...


def failure_kind(status: Status, result: ChildResult) -> str | None:
    """The kind recorded with an end: what the work said, or fnf's own limit; None if not a failure."""
    if status is Status.FAILED:
        return (result.failure or FailureKind.CRASH).value
    if status is Status.CLIENT_TIMEOUT_KILLED:
        return FailureKind.TIMEOUT.value
    return None


class Why(StrEnum):
    """Why fnf stops a client, or stops starting clients."""

    CLIENT = "client"
    """The client's own limit (MAX_CLIENT_PROCESSING_MINUTES)."""
    JOB = "job"
    """The run's deadline (MAX_JOB_PROCESSING_HOURS)."""
    SIGNAL = "signal"
    """SIGTERM, SIGINT or SIGHUP (a scheduler, an operator)."""
    ADMISSION = "admission"
    """The next client's typical run would not fit before the job deadline (--admit-by-history)."""
    LEFT = "left"
    """The client is no longer this run's to run (removed, moved, or running elsewhere)."""
    DONE = "done"
    """The client finished every job type of the run."""
    RETRY = "retry"
    """The client failed for a reason that may pass: it waits off its slot, then tries again."""
    CIRCUIT = "circuit"
    """Clients failing in a row opened the circuit breaker (FNF_CIRCUIT_BREAKER_FAILURES)."""


@dataclass
class Attempt:
    """One client's work for one job type, in flight."""

    client: Client
    job_type: JobType
    running: Running
    base: JobState
    started: float
    deadline: float
    binding: Why
    """Which limit the deadline is: the client's or the job's."""
    shown: tuple[Status, str | None] = (Status.STARTED, None)
    reason: Why | None = None
    """Why fnf is stopping it (its limit, the job deadline, a signal); None while it may run on."""
    grace: float = 0.0
    kill_at: float | None = None
    result: ChildResult | None = None
    tries: int = 1
    """Which attempt at this client's job type this is in the run (retries add one)."""
    retry_at: float | None = None
    """When its retry is due (monotonic), if it failed for a reason that may pass."""

    def terminate(self, reason: Why, grace: float, now: float) -> None:
        self.reason, self.grace, self.kill_at = reason, grace, now + grace
        self.running.terminate()

    def wake_at(self) -> float:
        return self.kill_at if self.kill_at is not None else self.deadline


@dataclass
class Slot:
    """A client being processed: its job types run one after another in one slot."""

    order: int
    """The client's place in this run's order: the first one left unfinished is where the run stopped."""
    task: Task
    todo: list[JobType]
    attempt: Attempt | None = None
    tries: dict[JobType, int] = field(default_factory=dict)
    retry_at: float | None = None
    """Set while the slot's client waits to retry (its job type back at the front of ``todo``)."""
    last_message: str | None = None
    """The message recorded at its last end (what the circuit breaker quotes)."""


def carried(base: JobState, known: JobState | None) -> JobState:
    """What outlives an attempt: the timeout streak, quarantine, the last alert, recent durations."""
    if known is None:
        return base
    return replace(
        base,
        timeouts_in_row=known.timeouts_in_row,
        quarantined_at=known.quarantined_at,
        alert_kind=known.alert_kind,
        alert_at=known.alert_at,
        recent_seconds=known.recent_seconds,
    )


def progress_note(progress: dict[str, Any] | None) -> str | None:
    if not progress:
        return None
    done, total = progress.get("done"), progress.get("total")
    text = f"progress {done}/{total}" if total is not None else f"progress {done}"
    if progress.get("message"):
        text += f": {progress['message']}"
    return text


def retry_delay(settings: Settings, attempt: Attempt, result: ChildResult) -> float | None:
    """Seconds until the retry of a failure that may pass, or None when it is not retried (another
    kind, retries off, or its attempts used up). Backoff doubles each time, with jitter so that
    clients that failed together do not come back together."""
    if result.failure is not FailureKind.TRANSIENT or attempt.tries > settings.retry_attempts:
        return None
    if result.retry_after is not None:
        return result.retry_after
    return float(settings.retry_backoff * 2 ** (attempt.tries - 1) * random.uniform(0.8, 1.2))


def retry_message(settings: Settings, attempt: Attempt, message: str, delay: float | None) -> str:
    """The recorded message of a transient failure: its retry to come, or that fnf gave up."""
    if delay is not None:
        return f"{message}; retry {attempt.tries} of {settings.retry_attempts} in {human_duration(delay)}"
    if attempt.tries > 1:
        reason = message.removeprefix("[transient] ")
        return f"[transient] gave up after {attempt.tries} attempts: {reason}"
    return message
