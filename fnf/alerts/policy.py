"""When to alert: once per event kind per run at once, one summary at the end, quiet periods.

The :class:`Alerter` watches a run (it is the runner's observer). The first client timeout of a
run is sent at once; the 49 after it wait for the summary, which names every affected client. A
client alerted for the same thing within the quiet period is not alerted again (its state keeps
Last Alert Type and Time). A dead-man's-switch ping marks the run's start and its end.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from datetime import datetime

from fnf.alerts.base import Alert, AlertKind, Dispatcher, Message, Pending, alert_message, summary_message
from fnf.alerts.monitors import LogTail, Monitor
from fnf.clock import Clock, iso
from fnf.config import Settings
from fnf.models import Client, JobState, JobType, Lease, Outcome, RunRecord, Status, human_duration


class Alerter:
    def __init__(self, settings: Settings, dispatcher: Dispatcher, monitor: Monitor | None, clock: Clock) -> None:
        self.settings = settings
        self.dispatcher, self.monitor, self.clock = dispatcher, monitor, clock
        self._tail: LogTail | None = None
        self.alerts: list[Alert] = []
        self.sent: list[AlertKind] = []
        self._record: RunRecord | None = None
        self._names: dict[str, str] = {}
        self.undelivered: list[str] = []
        """Channels that failed to take an alert of this run (named in the run's note)."""
        self._pending: list[Pending] = []

    # -- the run's life ------------------------------------------------------------------
    def run_started(self, record: RunRecord) -> None:
        self._record = record
        if self.monitor is not None:
            self._tail = LogTail()
            logging.getLogger("fnf").addHandler(self._tail)
            self.monitor.started(record.run_type, record.stream, record.run_id)

    def took_over(self, lease: Lease) -> None:
        holder = lease.holder
        self._raise(
            AlertKind.STALE_RUN_TAKEN_OVER,
            detail=f"run {holder.run_id} (host {holder.host}, pid {holder.pid}) stopped heart-beating at "
            f"{iso(lease.heartbeat_at)} while holding {lease.job_type.value} stream {lease.stream}.",
            next_step="this run takes over its sweep and resumes where it stopped",
        )

    def sweep_planned(self, total: int) -> None:
        pass

    def client_started(self, client: Client, job_type: JobType, allowed_seconds: float) -> None:
        self._names[client.id] = client.name

    def client_ended(self, client: Client, job_type: JobType, state: JobState, newly_quarantined: bool) -> JobState:
        """Alert about a client's end if it warrants one; returns the state to record."""
        self._names[client.id] = client.name
        kind = _client_kind(state, newly_quarantined)
        if kind is None:
            return state
        now = self.clock.now()
        if not newly_quarantined and self._quiet(state, kind, now):
            return state
        limit = f"client limit of {human_duration(self.settings.client_timeout)}"
        self._raise(
            kind,
            client=client,
            job_type=job_type,
            limit=limit if kind is not AlertKind.CLIENT_FAILED else None,
            detail=f"{job_type.value}: {state.message or state.status.value}",
            next_step=self._next_for_client(kind, client, job_type, state),
            failure_kind=state.failure_kind,
        )
        return replace(state, alert_kind=kind.value, alert_at=now)

    def run_ending(self, outcome: Outcome, message: str, stopped_at: str | None, remaining: int) -> str | None:
        """Alert about how the run ends; returns the note recorded on the run (None: no alerts)."""
        self._flush()  # the note names the channels that failed the run's alerts so far
        where = f"resumes from client {stopped_at} on the next run" if stopped_at else "the next run starts over"
        if outcome is Outcome.STOPPED_AT_DEADLINE:
            self._raise(
                AlertKind.JOB_DEADLINE,
                client_id=stopped_at,
                limit=f"job limit of {human_duration(self.settings.job_timeout)}",
                detail=f"{message}.",
                next_step=f"{where}; {remaining} client(s) left in the sweep",
            )
        elif outcome is Outcome.INTERRUPTED:
            self._raise(AlertKind.RUN_INTERRUPTED, client_id=stopped_at, detail=f"{message}.", next_step=where)
        elif outcome is Outcome.FAILED:
            self._raise(
                AlertKind.RUN_FAILED, detail=f"{message}.", next_step="the next run resumes the sweep; see fnf status"
            )
        elif outcome is Outcome.CIRCUIT_OPEN:
            self._raise(
                AlertKind.CIRCUIT_OPEN,
                client_id=stopped_at,
                detail=f"{message}.",
                next_step=f"{where}, one client first; if it fails too the run stops at once. "
                "Look at the failures' kind (fnf status --status FAILED) before the next run",
            )
        return self.note()

    def run_ended(self, outcome: Outcome, summary: str, exit_code: int) -> None:
        record = self._record
        if record is None:
            return
        if len(self.alerts) > len(self.sent):
            self._send(
                summary_message(
                    self.alerts,
                    run_type=record.run_type,
                    stream=record.stream,
                    job_id=record.job_id,
                    outcome=outcome.value,
                )
            )
        self._flush()
        if self.monitor is not None:
            tail = ""
            if self._tail is not None:
                logging.getLogger("fnf").removeHandler(self._tail)
                tail = self._tail.text()
            self.monitor.ended(record.run_type, record.stream, record.run_id, exit_code, summary, tail)

    def note(self) -> str | None:
        """The alerts of the run as recorded on it; an alert that reached nobody says so."""
        if not self.alerts:
            return None
        counts = Counter(a.kind.value for a in self.alerts)
        listed = ", ".join(f"{kind} x{n}" if n > 1 else kind for kind, n in counts.items())
        if not self.dispatcher.channels:
            return f"{listed} (not sent: no channel configured: see fnf doctor)"
        how = f"{len(self.sent)} sent at once"
        if len(self.alerts) > len(self.sent):
            how += ", summary at the end"
        if self.undelivered:
            how += f"; not delivered on {', '.join(self.undelivered)}"
        return f"{listed} ({how})"

    # -- internals -------------------------------------------------------------------------
    def _quiet(self, state: JobState, kind: AlertKind, now: datetime) -> bool:
        if state.alert_kind != kind.value or state.alert_at is None:
            return False
        return (now - state.alert_at).total_seconds() < self.settings.alerts.quiet_period

    def _next_for_client(self, kind: AlertKind, client: Client, job_type: JobType, state: JobState) -> str:
        if kind is AlertKind.CLIENT_QUARANTINED:
            return f"skipped by every sweep until released: fnf clients release {client.id} --type {job_type.value}"
        later = "not retried in this sweep (fnf run --retry-failed retries it); tried again in the next sweep"
        if kind is AlertKind.CLIENT_TIMEOUT and self.settings.quarantine_after:
            return (
                f"{later}; {state.timeouts_in_row} timeout(s) in a row, quarantined at {self.settings.quarantine_after}"
            )
        return later

    def _raise(
        self,
        kind: AlertKind,
        *,
        client: Client | None = None,
        client_id: str | None = None,
        job_type: JobType | None = None,
        limit: str | None = None,
        detail: str = "",
        next_step: str = "",
        failure_kind: str | None = None,
    ) -> None:
        record = self._record
        if record is None:
            return
        target = client.id if client else client_id
        alert = Alert(
            kind,
            record.run_type,
            record.stream,
            record.run_id,
            record.job_id,
            self.clock.now(),
            client_id=target,
            client_name=client.name if client else (self._names.get(target) if target else None),
            limit=limit,
            detail=detail,
            next_step=next_step,
            failure_kind=failure_kind,
        )
        self.alerts.append(alert)
        if kind not in self.sent:
            self.sent.append(kind)
            self._send(alert_message(alert))

    def _send(self, message: Message) -> None:
        if self.dispatcher.channels:
            self._pending.append(self.dispatcher.start(message))

    def _flush(self) -> None:
        """Wait for the alerts on their way (each within its budget) and note the failed channels."""
        while self._pending:
            for delivery in self._pending.pop(0).wait():
                if not delivery.ok and delivery.channel not in self.undelivered:
                    self.undelivered.append(delivery.channel)


def _client_kind(state: JobState, newly_quarantined: bool) -> AlertKind | None:
    if newly_quarantined:
        return AlertKind.CLIENT_QUARANTINED
    if state.status is Status.CLIENT_TIMEOUT_KILLED:
        return AlertKind.CLIENT_TIMEOUT
    if state.status is Status.FAILED:
        return AlertKind.CLIENT_FAILED
    return None
