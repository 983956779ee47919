"""Alerts: what happened, to whom, and the fan-out that delivers them without hurting the run.

A channel's ``send`` may raise or hang; :class:`Dispatcher` runs every channel in its own thread,
retries each with backoff inside an overall time bound, logs what failed, and never raises: an
alert that cannot be delivered must not delay a run by more than a few seconds or change its
exit code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from tenacity import Retrying, stop_after_attempt, stop_after_delay, wait_exponential

from fnf.clock import iso

log = logging.getLogger("fnf.alerts")


class AlertKind(StrEnum):
    CLIENT_TIMEOUT = "client_timeout"
    CLIENT_FAILED = "client_failed"
    CLIENT_QUARANTINED = "client_quarantined"
    JOB_DEADLINE = "job_deadline"
    RUN_INTERRUPTED = "run_interrupted"
    STALE_RUN_TAKEN_OVER = "stale_run_taken_over"
    RUN_FAILED = "run_failed"
    CIRCUIT_OPEN = "circuit_open"
    TEST = "test"

    @property
    def headline(self) -> str:
        return _HEADLINES[self]


_HEADLINES = {
    AlertKind.CLIENT_TIMEOUT: "client timed out",
    AlertKind.CLIENT_FAILED: "client failed",
    AlertKind.CLIENT_QUARANTINED: "client quarantined",
    AlertKind.JOB_DEADLINE: "job deadline reached",
    AlertKind.RUN_INTERRUPTED: "run interrupted",
    AlertKind.STALE_RUN_TAKEN_OVER: "stale run taken over",
    AlertKind.RUN_FAILED: "run failed",
    AlertKind.CIRCUIT_OPEN: "circuit open",
    AlertKind.TEST: "test alert",
}


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    run_type: str
    stream: int
    run_id: str
    job_id: str
    at: datetime
    client_id: str | None = None
    client_name: str | None = None
    limit: str | None = None
    """The limit that was hit, such as "client limit of 10 minutes"."""
    detail: str = ""
    next_step: str = ""
    """What happens next, such as "resumes from this client on the next run"."""
    failure_kind: str | None = None
    """Why a client failed (``fnf.failures``): summaries count failures by kind."""

    def who(self) -> str:
        return f"{self.client_name} ({self.client_id})" if self.client_id else ""

    def data(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "type": self.run_type,
            "stream": self.stream,
            "run_id": self.run_id,
            "job_id": self.job_id,
            "at": iso(self.at),
            "client_id": self.client_id,
            "client_name": self.client_name,
            "limit": self.limit,
            "detail": self.detail,
            "next": self.next_step,
            "failure_kind": self.failure_kind,
        }


@dataclass(frozen=True)
class Message:
    """One notification, rendered once and sent on every channel."""

    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def alert_message(alert: Alert) -> Message:
    who = f": {alert.who()}" if alert.client_id else ""
    subject = f"[fnf] {alert.run_type} stream {alert.stream}: {alert.kind.headline}{who}"
    lines = [f"{alert.kind.headline.capitalize()}{who}."]
    if alert.detail:
        lines.append(alert.detail)
    if alert.limit:
        lines.append(f"Limit: {alert.limit}.")
    if alert.next_step:
        lines.append(f"Next: {alert.next_step}.")
    lines.append(f"Job {alert.job_id}, run {alert.run_id}, at {iso(alert.at)}.")
    return Message(subject, "\n".join(lines), {"event": "alert", **alert.data()})


def summary_message(alerts: Sequence[Alert], *, run_type: str, stream: int, job_id: str, outcome: str) -> Message:
    """The end-of-run summary: every affected client, grouped by what happened to it."""
    by_kind: dict[AlertKind, list[Alert]] = {}
    for alert in alerts:
        by_kind.setdefault(alert.kind, []).append(alert)
    counts = ", ".join(f"{len(items)} {kind.headline}{_by_failure(items)}" for kind, items in by_kind.items())
    subject = f"[fnf] {run_type} stream {stream}: run {outcome} ({counts})"
    lines = [f"Run {job_id} ended: {outcome}. {counts}."]
    for kind, items in by_kind.items():
        lines.append("")
        lines.append(f"{kind.headline.capitalize()} ({len(items)}):")
        for alert in items:
            target = alert.who() or "the run"
            lines.append(f"  - {target}: {alert.detail}" + (f" Next: {alert.next_step}." if alert.next_step else ""))
    data = {
        "event": "summary",
        "type": run_type,
        "stream": stream,
        "job_id": job_id,
        "outcome": outcome,
        "alerts": [a.data() for a in alerts],
    }
    return Message(subject, "\n".join(lines), data)


def _by_failure(alerts: Sequence[Alert]) -> str:
    """``: 35 auth, 3 crash`` for failed clients (most frequent kind first); empty otherwise."""
    kinds = Counter(a.failure_kind for a in alerts if a.failure_kind)
    if not kinds or alerts[0].kind is not AlertKind.CLIENT_FAILED:
        return ""
    return ": " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda item: (-item[1], item[0])))


class Channel(Protocol):
    name: str

    def send(self, message: Message, timeout: float) -> None:
        """Deliver or raise; must give up after about ``timeout`` seconds."""


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Pending:
    """A message on its way to every channel."""

    channels: Sequence[Channel]
    threads: Sequence[threading.Thread]
    results: dict[str, Delivery]
    deadline: float
    budget: float

    def wait(self) -> list[Delivery]:
        """Wait for each channel until the message's budget is spent; one Delivery per channel."""
        for thread in self.threads:
            thread.join(max(0.0, self.deadline - time.monotonic()))
        out = []
        for channel in self.channels:
            delivery = self.results.get(channel.name) or Delivery(
                channel.name, False, f"no answer within {self.budget:g} s"
            )
            if not delivery.ok:
                log.warning("alert not delivered on %s: %s", channel.name, delivery.error)
            out.append(delivery)
        return out


class Dispatcher:
    """Sends a message on every channel at once; bounded in time, retried, never raising."""

    def __init__(self, channels: Sequence[Channel], *, budget: float = 5.0) -> None:
        self.channels = list(channels)
        self.budget = budget
        self._last: dict[str, threading.Thread] = {}
        self._busy_until: dict[str, float] = {}

    def send(self, message: Message) -> list[Delivery]:
        """Deliver ``message`` now, waiting for every channel (at most the budget)."""
        return self.start(message).wait()

    def start(self, message: Message) -> Pending:
        """Begin delivering ``message`` on every channel and return at once: the run's loop never
        waits on a channel (its clients' deadlines do not). Each channel gets its messages in the
        order they were started. :meth:`Pending.wait` collects the outcome."""
        results: dict[str, Delivery] = {}
        begin = max([time.monotonic(), *self._busy_until.values()])
        threads = []
        for channel in self.channels:
            before = self._last.get(channel.name)
            thread = threading.Thread(
                target=self._deliver_after,
                args=(before, channel, message, results),
                name=f"fnf-alert-{channel.name}",
                daemon=True,
            )
            self._last[channel.name] = thread
            self._busy_until[channel.name] = begin + self.budget
            threads.append(thread)
        for thread in threads:
            thread.start()
        return Pending(self.channels, threads, results, begin + self.budget, self.budget)

    def _deliver_after(
        self, before: threading.Thread | None, channel: Channel, message: Message, results: dict[str, Delivery]
    ) -> None:
        if before is not None:
            before.join(self.budget)
        self._deliver(channel, message, results)

    def _deliver(self, channel: Channel, message: Message, results: dict[str, Delivery]) -> None:
        started = time.monotonic()
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(3) | stop_after_delay(self.budget * 0.6),
                wait=wait_exponential(multiplier=0.2, max=1.0),
                reraise=True,
            ):
                with attempt:
                    left = max(0.5, self.budget - (time.monotonic() - started))
                    channel.send(message, left)
            results[channel.name] = Delivery(channel.name, True)
        except Exception as exc:  # a channel failing is reported, never raised
            results[channel.name] = Delivery(channel.name, False, _describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]
