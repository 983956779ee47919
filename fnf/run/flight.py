"""The clients in flight: each one's start (its STARTED written first), its deadlines, its end.

A ``Flight`` is made per run by the runner, which decides which client comes next and when the
run stops; the flight starts it through the executor, tends every client at once (deadlines,
heartbeats, waiting on all of them) and turns each end into the status the ledger records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from fnf.clock import Clock
from fnf.config import Settings
from fnf.errors import StoreUnavailableError
from fnf.handlers import Handler
from fnf.models import RECENT_RUNS, Client, JobState, JobType, StateUpdate, Status, human_duration
from fnf.run.attempt import (
    Attempt,
    Running,
    Slot,
    Why,
    failure_kind,
    progress_note,
    retry_delay,
    retry_message,
)
from fnf.run.ledger import Ledger
from fnf.run.observers import RunObserver
from fnf.run.starting import NOT_STARTED, RunIds, Starter
from fnf.run.work import ChildResult, ResultKind, Work
from fnf.stop import StopFlag
from fnf.store.base import Store

log = logging.getLogger("fnf.run")

WATCH_STORE_SECONDS = 5.0
"""How long a write made while a client runs may retry: it must not delay the client's deadline."""


class Executor(Protocol):
    def prepare(self) -> None:
        """Clients are about to start: get ready (the process server starts meanwhile)."""

    def start(self, work: Work) -> Running: ...
    def wait_any(self, children: Sequence[Running], timeout: float) -> None: ...


class Flight:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        ledger: Ledger,
        executor: Executor,
        handlers: Mapping[JobType, Handler],
        clock: Clock,
        stop: StopFlag,
        observer: RunObserver,
        run: RunIds,
        deadline: float,
        known: dict[JobType, MutableMapping[str, JobState]],
        store_now: Callable[[], datetime],
    ) -> None:
        self.settings, self.store, self._ledger, self.executor = settings, store, ledger, executor
        self.clock, self.stop, self.observer = clock, stop, observer
        self._known, self._store_now = known, store_now
        self.next_beat = clock.monotonic() + settings.heartbeat_interval
        self.starter = Starter(
            settings=settings,
            ledger=ledger,
            start=executor.start,
            handlers=handlers,
            clock=clock,
            stop=stop,
            observer=observer,
            run=run,
            deadline=deadline,
            known=known,
        )

    @property
    def left(self) -> list[str]:
        """Clients refused at their start: no longer this stream's to run."""
        return self.starter.left

    @property
    def live(self) -> set[str]:
        """Other runs alive when the clients were selected (a client in flight in one is not started)."""
        return self.starter.live

    @live.setter
    def live(self, runs: set[str]) -> None:
        self.starter.live = runs

    def halt(self, flight: list[Slot], reason: Why) -> None:
        """A signal or the job deadline: ask every client in flight to stop, each with its grace."""
        if reason is Why.SIGNAL:
            grace = 0.0 if self.stop.immediate else self.settings.signal_grace
            log.warning(
                "%s received: stopping %d client(s) in flight (grace %g s)", self.stop.reason, len(flight), grace
            )
        elif reason is Why.JOB:
            grace = self.settings.kill_grace
        else:
            return  # admission: the clients in flight fit; they finish
        for slot in flight:
            if slot.attempt is not None and slot.attempt.reason is None:
                slot.attempt.terminate(reason, grace, self.clock.monotonic())

    def tend(self, flight: list[Slot], wake_by: float | None = None) -> list[tuple[Slot, Status]]:
        """Enforce deadlines, keep the heartbeat and wait (until ``wake_by`` at the latest);
        returns the slots whose attempt ended, each with the status recorded for it."""
        now = self.clock.monotonic()
        attempts = [slot.attempt for slot in flight if slot.attempt is not None]
        for attempt in attempts:
            if attempt.reason is None and now >= attempt.deadline:
                attempt.terminate(attempt.binding, self.settings.kill_grace, now)
            if attempt.kill_at is not None and self.stop.immediate:
                attempt.kill_at = min(attempt.kill_at, now)
        if self._beat_if_due(now):
            self._show_running(attempts)
        ended = [slot for slot in flight if slot.attempt is not None and self._reap(slot.attempt, now)]
        if not ended:
            wake = min([self.next_beat, *(a.wake_at() for a in attempts), *([wake_by] if wake_by else [])])
            self.executor.wait_any([a.running for a in attempts], wake - now)
            now = self.clock.monotonic()
            ended = [slot for slot in flight if slot.attempt is not None and self._reap(slot.attempt, now)]
        statuses = []
        for slot in ended:
            ending = slot.attempt
            assert ending is not None
            statuses.append((slot, self._end(ending)))
            slot.attempt, slot.retry_at = None, ending.retry_at
            slot.last_message = self._known.get(ending.job_type, {}).get(ending.client.id, ending.base).message
            if ending.retry_at is not None:
                slot.todo.insert(0, ending.job_type)
        return statuses

    def forget(self, client_id: str) -> None:
        """A finished client's states leave memory: nothing in this run reads them again (the
        sweep's end reads the stream anew), so the run's memory stays flat however long the sweep."""
        for states in self._known.values():
            if client_id in states:
                del states[client_id]

    def pause(self, until: float) -> None:
        """Nothing in flight, a retry waiting: write the ends still pending (no claim would carry
        them before the retry: a kill -9 meanwhile must not repeat a client that has finished),
        keep the heartbeat and wait (a signal wakes it)."""
        self._ledger.flush()
        now = self.clock.monotonic()
        self._beat_if_due(now)
        self.executor.wait_any([], min(until, self.next_beat) - now)

    def _beat_if_due(self, now: float) -> bool:
        """Keep the heartbeat: True when one was sent."""
        if now < self.next_beat:
            return False
        self.next_beat = now + self.settings.heartbeat_interval
        self._ledger.beat(now, self._store_now(), self.settings.heartbeat_interval)
        return True

    def park(self, slots: list[Slot]) -> list[Slot]:
        """The run stops while these clients wait to retry: each is recorded cut short, so the
        next run resumes it first."""
        for slot in slots:
            job_type, client = slot.todo[0], slot.task.client
            known = self._known.get(job_type, {}).get(client.id)
            if known is None:
                continue
            note = f"{known.message}; the run stopped before its retry: resumes first next run"
            state = replace(known, status=Status.JOB_TIMEOUT_KILLED, message=note)
            self._known.setdefault(job_type, {})[client.id] = state
            self._ledger.record(client, job_type, state)
        return slots

    def _reap(self, attempt: Attempt, now: float) -> bool:
        """True when the attempt has ended: by itself, or killed at the end of its grace."""
        if attempt.kill_at is not None and now >= attempt.kill_at:
            how = f"killed by SIGKILL after {attempt.grace:g} s grace" if attempt.grace else "killed by SIGKILL"
            attempt.result = attempt.running.kill(how)
        elif attempt.result is None:
            attempt.result = attempt.running.wait(0.0)
            if attempt.result is not None and attempt.result.kind is ResultKind.STOPPED and attempt.reason is None:
                attempt.reason = attempt.binding  # its guard kept the deadline while this loop was held up
        return attempt.result is not None

    def _show_running(self, attempts: list[Attempt]) -> None:
        """Alive past a heartbeat: shown as RUNNING, with progress; one write for all in flight."""
        updates = []
        for attempt in attempts:
            note = progress_note(attempt.running.progress())
            if attempt.reason is None and attempt.shown != (Status.RUNNING, note):
                updates.append((attempt, note))
        if not updates:
            return
        try:
            with self.store.bounded(WATCH_STORE_SECONDS):  # the clients' deadlines come first
                self._ledger.save(
                    [
                        StateUpdate(a.client.id, a.job_type, replace(a.base, status=Status.RUNNING, message=note))
                        for a, note in updates
                    ],
                    None,
                )
        except StoreUnavailableError as exc:  # only a display; the clients keep running
            log.warning("could not show %d client(s) as RUNNING: %s", len(updates), exc)
            return
        for attempt, note in updates:
            attempt.shown = (Status.RUNNING, note)

    def _end(self, attempt: Attempt) -> Status:
        client, job_type, base = attempt.client, attempt.job_type, attempt.base
        assert attempt.result is not None
        seconds = self.clock.monotonic() - attempt.started
        status, message = self._classify(attempt.result, attempt.reason)
        kind = failure_kind(status, attempt.result)
        if status is Status.FAILED:
            message = f"[{kind}] {message}" if message else f"[{kind}]"
            delay = retry_delay(self.settings, attempt, attempt.result)
            message = retry_message(self.settings, attempt, message, delay)
            attempt.retry_at = None if delay is None else self.clock.monotonic() + delay
        state = replace(
            base,
            status=status,
            last_run_seconds=seconds,
            count=attempt.result.count,
            message=message,
            failure_kind=kind,
        )
        if status is not Status.JOB_TIMEOUT_KILLED:  # a run cut short by us says nothing about the client
            state = replace(state, recent_seconds=(*base.recent_seconds, round(seconds, 3))[-RECENT_RUNS:])
        state, quarantined = self._streak(client, state)
        final = attempt.retry_at is None  # a retry to come: no alert, not counted as failed yet
        if final:
            state = self.observer.client_ended(client, job_type, state, quarantined)
        self._known.setdefault(job_type, {})[client.id] = state
        self._ledger.record(client, job_type, state, final=final)
        return status

    def _streak(self, client: Client, state: JobState) -> tuple[JobState, bool]:
        """Count consecutive client timeouts; quarantine at FNF_QUARANTINE_AFTER. True if newly quarantined."""
        if state.status in (Status.COMPLETED, Status.FAILED):
            return replace(state, timeouts_in_row=0), False
        if state.status is not Status.CLIENT_TIMEOUT_KILLED:
            return state, False
        streak = state.timeouts_in_row + 1
        state = replace(state, timeouts_in_row=streak)
        limit = self.settings.quarantine_after
        if not limit or streak < limit or state.quarantined_at is not None:
            return state, False
        note = (
            f"quarantined after {streak} timeouts in a row: skipped by every sweep until "
            f"fnf clients release {client.id}"
        )
        message = f"{state.message}; {note}" if state.message else note
        return replace(state, quarantined_at=self.clock.now(), message=message), True

    def _classify(self, result: ChildResult, reason: Why | None) -> tuple[Status, str | None]:
        if result.kind is ResultKind.SUCCEEDED:
            return Status.COMPLETED, result.message  # even if a deadline came as it finished
        if result.message == NOT_STARTED:
            return Status.JOB_TIMEOUT_KILLED, f"not started: {self._stopping(reason)}; resumes first next run"
        if reason is None:
            return Status.FAILED, result.message
        if reason is Why.CLIENT:
            limit = human_duration(self.settings.client_timeout)
            return Status.CLIENT_TIMEOUT_KILLED, f"exceeded the client limit of {limit}; {result.message}"
        if reason is Why.SIGNAL:
            return Status.JOB_TIMEOUT_KILLED, (
                f"run interrupted by {self.stop.reason}; {result.message}; resumes first next run"
            )
        limit = human_duration(self.settings.job_timeout)
        return Status.JOB_TIMEOUT_KILLED, (f"job deadline of {limit} reached; {result.message}; resumes first next run")

    def _stopping(self, reason: Why | None) -> str:
        """Why the run stopped before it started a client it had claimed."""
        if reason is Why.SIGNAL:
            return f"run interrupted by {self.stop.reason}"
        if reason is Why.CIRCUIT:
            return "the circuit breaker opened"
        if reason is Why.ADMISSION:
            return "it would not fit before the job deadline"
        return f"job deadline of {human_duration(self.settings.job_timeout)} reached"
