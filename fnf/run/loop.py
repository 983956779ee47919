"""The clients of one sweep through the flight: up to K at once, retries waiting off their slot.

The loop stops starting clients at a signal, the job deadline, a client whose typical run would
not fit (admission), or when the circuit breaker opens; the clients in flight then end (on their
grace, or by themselves), and the first client left unfinished is where the next run resumes.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from fnf import host
from fnf.clock import Clock
from fnf.config import Settings
from fnf.models import JobType, Outcome, Status
from fnf.run.attempt import Slot, Why
from fnf.run.endings import Ending
from fnf.run.flight import Flight
from fnf.run.lineup import Lineup
from fnf.run.plan import Planner
from fnf.run.request import RunRequest
from fnf.run.starting import Claimed, Start
from fnf.run.sweep import Task
from fnf.stop import StopFlag

log = logging.getLogger("fnf.run")


SHOWN_FAILURES = 3
"""The last errors a circuit_open outcome quotes."""


@dataclass
class Breaker:
    """Counts clients failing in a row; open at ``limit`` (0: never). ``probing``: the previous run
    stopped with the circuit open, so this one starts one client and opens again if it fails."""

    limit: int
    probing: bool = False
    failures: list[str] = field(default_factory=list)
    """``client: message`` of the clients failing in a row now."""

    def record(self, status: Status, client_id: str, message: str | None) -> None:
        """A client's final end (a retry still waiting and a cut-short client are not ends)."""
        if status is Status.FAILED:
            self.failures.append(f"{client_id}: {message}")
            del self.failures[: -max(self.limit, SHOWN_FAILURES)]  # flat memory on a long failing run
            return
        self.probing = False
        if status is Status.COMPLETED:
            self.failures.clear()

    @property
    def open(self) -> bool:
        if self.probing and self.failures:
            return True
        return self.limit > 0 and len(self.failures) >= self.limit


@dataclass
class Loop:
    settings: Settings
    flight: Flight
    planner: Planner
    request: RunRequest
    sweeps: Mapping[JobType, str]
    live: set[str]
    clock: Clock
    stop: StopFlag
    deadline: float
    breaker: Breaker
    ending: Ending
    in_flight: list[Slot] = field(default_factory=list)
    ahead: deque[tuple[Slot, Claimed]] = field(default_factory=deque)
    """Clients recorded STARTED, their work not started yet (FNF_WRITE_BATCH > 1, or a fill's batch)."""
    done: set[str] = field(default_factory=set)
    _note: str = ""
    _write_at: float | None = None
    """When the store's pacing lets the next claim go; until then the ends of the clients in
    flight are gathered for the same request."""

    def run(self, tasks: list[Task]) -> tuple[Outcome, str] | None:
        """Run the tasks; returns how the run stopped, or None once every task (and any client
        that joined the stream meanwhile) is done."""
        line = Lineup(tasks)
        cut: list[Slot] = []  # clients the stop left unfinished: the next run starts with them
        halted: Why | None = None
        try:
            while True:
                line.release(self.clock.monotonic())
                halted = self._fill(line, halted)
                if halted is None and (halted := self._stop_reason()) is not None:
                    self._halt(halted)
                if self.in_flight:
                    halted = self._tend(line, cut, halted)
                    continue
                halted, finished = self._settle(line, cut, halted)
                if finished:
                    return self._stopped(halted, cut, line) if halted is not None else None
        except BaseException:
            for slot in self.in_flight:  # never leave a client running behind a failed run
                if slot.attempt is not None:
                    slot.attempt.running.kill("killed by SIGKILL: the run failed")
            raise

    def _fill(self, line: Lineup, halted: Why | None) -> Why | None:
        """Start clients while there is room (one while the breaker probes), taking claimed ones
        first; when none is claimed, claim the next ones in one write: every free place (so that
        a batching store carries their starts, and the ends pending, in one request), or
        FNF_WRITE_BATCH clients if more."""
        while halted is None and len(self.in_flight) < self._room() and (self.ahead or line.has_next()):
            if not self.ahead:
                if self._gathering():
                    break
                halted = self._claim(line)
                continue
            slot, claimed = self.ahead[0]
            halted = self._ready(slot, claimed.job_type)
            if halted is None:
                self.ahead.popleft()
                slot.attempt = self.flight.starter.launch(claimed, len(self.in_flight))
                self.in_flight.append(slot)
        if halted is not None:
            self._halt(halted)
        return halted

    def _gathering(self) -> bool:
        """True while a claim would only wait for the store's pacing and clients are in flight:
        the loop waits for their ends instead, and the claim carries them (with K = 1 nothing is
        in flight then, and the claim waits in the store as before)."""
        delay = self.flight.store.write_delay() if self.in_flight else 0.0
        self._write_at = self.clock.monotonic() + delay if delay > 0 else None
        return self._write_at is not None

    def _claim(self, line: Lineup) -> Why | None:
        """Record the next clients STARTED in one write; returns why no more may start, if so."""
        room = self._room()
        want = max(room - len(self.in_flight), 1 if self.breaker.probing else self.settings.write_batch)
        remaining = self._remaining(line)
        batch: list[Slot] = []
        halted = None
        while line.has_next() and len(batch) < want:
            slot = line.peek()
            halted = self._ready(slot, slot.todo[0])
            if halted is not None:
                break
            line.take(slot)
            batch.append(slot)
        for slot, claimed in zip(batch, self._claims(batch, remaining), strict=True):
            if claimed is None:
                self.done.add(slot.task.client.id)
            else:
                self.ahead.append((slot, claimed))
        return halted

    def _halt(self, reason: Why) -> None:
        """Stop starting clients: those claimed but not started end at once, recorded cut short."""
        while self.ahead:
            slot, claimed = self.ahead.popleft()
            slot.attempt = self.flight.starter.unstarted(claimed, reason)
            self.in_flight.append(slot)
        self.flight.halt(self.in_flight, reason)

    def _remaining(self, line: Lineup) -> int:
        return line.remaining() + len(self.in_flight) + len(self.ahead)

    def _room(self) -> int:
        return 1 if self.breaker.probing else self.settings.concurrency

    def _tend(self, line: Lineup, cut: list[Slot], halted: Why | None) -> Why | None:
        for slot, ended in self.flight.tend(self.in_flight, self._write_at):
            reason = self._next_step(slot, ended, halted, self._remaining(line))
            if reason is None:
                continue
            self.in_flight.remove(slot)
            if reason is Why.RETRY:
                assert slot.retry_at is not None
                line.wait(slot, slot.retry_at)
            elif reason not in (Why.DONE, Why.LEFT):
                cut.append(slot)
            if reason not in (Why.DONE, Why.LEFT, Why.RETRY) and halted is None:
                halted = reason
                self._halt(reason)
        if halted is None and self.breaker.open:
            halted = Why.CIRCUIT
        return halted

    def _settle(self, line: Lineup, cut: list[Slot], halted: Why | None) -> tuple[Why | None, bool]:
        """Nothing in flight: wait for a retry, take in clients that joined, or finish. Returns
        (why the run stops, whether the loop is over)."""
        if halted is None and not line.has_next() and (due := line.next_due()) is not None:
            if due < self.deadline:
                self.flight.pause(due)
                return None, False
            halted = Why.JOB  # its retry would come after the job deadline
        if halted is not None:
            cut.extend(self.flight.park(line.waiting()))
        if not line.has_next() and not cut and not self.request.client_ids:
            joined = self.planner.select(self.request, self.sweeps, self.live)
            line.queue.extend(t for t in joined if t.client.id not in self.done)
        if halted is not None and (cut or line.has_next() or halted is Why.CIRCUIT):
            return halted, True
        return None, not line.has_next()

    def _next_step(self, slot: Slot, ended: Status, halted: Why | None, remaining: int) -> Why | None:
        """After a slot's attempt ended with ``ended``: None if it goes on with the client's next
        job type, DONE if the client is finished, RETRY if it waits to try again, else why the
        client was left unfinished."""
        if ended is Status.JOB_TIMEOUT_KILLED:
            return halted or self._stop_reason() or Why.JOB
        if slot.retry_at is not None:
            return Why.RETRY
        self.breaker.record(ended, slot.task.client.id, slot.last_message)
        if not slot.todo:
            self.done.add(slot.task.client.id)
            self.flight.forget(slot.task.client.id)
            return Why.DONE
        if halted is not None:
            return halted
        return self._advance(slot, remaining)

    def _advance(self, slot: Slot, remaining: int) -> Why | None:
        """Start the slot's next job type, or say why not (a signal, the job deadline, admission,
        the circuit breaker, or LEFT: the client is no longer this run's)."""
        reason = self._ready(slot, slot.todo[0])
        if reason is not None:
            return reason
        claimed = self._claims([slot], remaining)[0]
        if claimed is None:
            self.done.add(slot.task.client.id)
            return Why.LEFT
        slot.attempt = self.flight.starter.launch(claimed, len(self.in_flight))
        return None

    def _ready(self, slot: Slot, job_type: JobType) -> Why | None:
        """Why the slot's job type may not start now, or None."""
        reason = self._stop_reason() or self._admission(slot.task, job_type)
        if reason is None and self.breaker.open:
            reason = Why.CIRCUIT
        return reason

    def _claims(self, slots: list[Slot], remaining: int) -> list[Claimed | None]:
        """Record each slot's next job type STARTED, all in one write."""
        starts = []
        for slot in slots:
            job_type = slot.todo.pop(0)
            slot.tries[job_type] = tries = slot.tries.get(job_type, 0) + 1
            starts.append(Start(slot.task.client, job_type, self.sweeps[job_type], tries))
        return self.flight.starter.claim(starts, remaining) if starts else []

    def _stop_reason(self) -> Why | None:
        if self.stop.requested:
            self.stop.name_sender(host.stop_note(self.ending.record.run_id))
            return Why.SIGNAL
        if self.clock.monotonic() >= self.deadline:
            return Why.JOB
        return None

    def _admission(self, task: Task, job_type: JobType) -> Why | None:
        if not self.request.admit_by_history:
            return None
        note = self.planner.too_long(task, job_type, self.deadline - self.clock.monotonic())
        if note is None:
            return None
        self._note = note
        log.warning("%s", note)
        return Why.ADMISSION

    def _stopped(self, reason: Why, cut: list[Slot], line: Lineup) -> tuple[Outcome, str]:
        first = min(cut, key=lambda slot: slot.order).task if cut else (line.queue[0] if line.queue else None)
        remaining = len(cut) + len(line.queue)
        note = self._note
        if reason is Why.CIRCUIT:
            note = _circuit_note(self.breaker)
        where = first.client.id if first is not None else None
        return self.ending.stopped(reason, where, remaining, self.settings.job_timeout, note)


def _circuit_note(breaker: Breaker) -> str:
    failed = breaker.failures
    shown = "; ".join(failed[-SHOWN_FAILURES:])
    if breaker.limit and len(failed) < breaker.limit:  # the probe of a half-open run failed
        lead = "circuit still open: the first client of this run failed as well"
    else:
        lead = f"circuit open: {len(failed)} clients in a row failed"
    return f"{lead} (last: {shown}); stopped starting clients"
