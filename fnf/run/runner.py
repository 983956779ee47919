"""The run loop: lease -> select -> watch each client -> record -> finish.

The runner never runs client code itself. It decides what to run, starts it through an
``Executor`` (real processes in production, a scripted fake in tests), enforces both deadlines,
keeps the heartbeat, and writes every state change before moving on.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from fnf import host
from fnf.clock import Clock
from fnf.config import Settings
from fnf.errors import (
    FnfError,
    LeaseLostError,
    StoreError,
    StoreUnavailableError,
)
from fnf.handlers import Handler
from fnf.models import (
    ALL,
    Client,
    JobType,
    Lease,
    Outcome,
    RunRecord,
    Status,
    Sweep,
    human_duration,
    job_id_for,
    job_types_of,
)
from fnf.run import endings
from fnf.run import lease as leases
from fnf.run.endings import Ending
from fnf.run.flight import Executor, Flight, RunIds, Slot, Why
from fnf.run.ledger import Ledger
from fnf.run.observers import Observers, RunObserver, SilentObserver
from fnf.run.plan import Planner
from fnf.run.request import RunReport, RunRequest, summary
from fnf.run.sweep import Task
from fnf.stop import StopFlag
from fnf.store.base import Busy, Store, Unusable

log = logging.getLogger("fnf.run")

STORE_DOWN_FINISH_SECONDS = 10.0
"""How long a run whose store failed still tries to record its end before exiting."""


class Runner:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        handlers: Mapping[JobType, Handler],
        executor: Executor,
        clock: Clock,
        stop: StopFlag,
        observer: RunObserver | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.handlers = handlers
        self.executor = executor
        self.clock = clock
        self.stop = stop
        self.observer: RunObserver = (
            observer if isinstance(observer, Observers) else Observers(observer or SilentObserver())
        )
        self.planner = Planner(store)
        self._unusable: tuple[Unusable, ...] = ()
        self._left: list[str] = []
        self._admission_note = ""

    # -- planning ------------------------------------------------------------------------
    def members(self, request: RunRequest) -> list[Client]:
        """The clients the run may touch: the stream's, or the ones named with --client."""
        return self.planner.members(request)

    def plan(self, request: RunRequest) -> list[Task]:
        """What a run would do now, in order, without changing anything (``--dry-run``)."""
        return self.planner.plan(request)

    # -- running -------------------------------------------------------------------------
    def run(self, request: RunRequest) -> RunReport:
        report = self._run(request)
        self.observer.run_ended(report.outcome, summary(report), report.exit_code)
        return report

    def _run(self, request: RunRequest) -> RunReport:
        job_types = job_types_of(request.run_type)
        members = self.members(request)  # validates --client before anything is written
        self._unusable = () if request.client_ids else tuple(self.store.unusable(request.stream))
        record = self._record_for(request)
        self.observer.run_started(record)
        try:
            acquired = self.store.acquire(
                record,
                job_types,
                self.settings.stale_after,
                lambda lease: leases.is_dead(lease, self._store_now()),
            )
        except StoreError as exc:
            if not self.stop.requested:
                raise
            return endings.stopped_before_start(self.store, self.clock, self.stop, record, exc)
        if isinstance(acquired, Busy):
            return endings.busy(self.store, self.clock, record, acquired.lease, self._store_now())
        self._take_over(acquired.taken_over)
        self._prepare(request, record, job_types)
        return self._sweep_and_finish(request, job_types, members)

    def _record_for(self, request: RunRequest) -> RunRecord:
        started = self.clock.now()
        self._mono_start = self.clock.monotonic()
        run_id = request.run_id or uuid.uuid4().hex
        short = "all" if request.run_type == ALL else JobType(request.run_type).short
        job_id = request.job_id or job_id_for(short, request.stream, started)
        beat = self._store_now()  # heartbeats are written on the clock they are judged by
        return RunRecord(run_id, request.run_type, request.stream, job_id, host.this_holder(run_id), started, beat)

    def _take_over(self, dead_leases: Sequence[Lease]) -> None:
        for dead in dead_leases:
            log.warning(
                "took over %s stream %s from %s",
                dead.job_type.value,
                dead.stream,
                leases.describe(dead, self._store_now()),
            )
            self.observer.took_over(dead)
            if host.kill_holder(dead.holder):
                log.warning("killed hung run %s (pid %d)", dead.holder.run_id, dead.holder.pid)

    def _prepare(self, request: RunRequest, record: RunRecord, job_types: tuple[JobType, ...]) -> None:
        """The run's state once it holds its stream: its ledger, its deadline, its flight."""
        self._ledger = Ledger(
            self.store, record.run_id, request.stream, started=self._mono_start, stale_after=self.settings.stale_after
        )
        self._end = Ending(
            self.store, self._ledger, self.observer, self.clock, self.stop, request, record, self._unusable
        )
        self._deadline = self._mono_start + self.settings.job_timeout
        self._flight: list[Slot] = []
        self._done: set[str] = set()
        job_ids = {t: job_id_for(t, request.stream, record.started_at) for t in job_types}
        self._watch = Flight(
            settings=self.settings,
            store=self.store,
            ledger=self._ledger,
            executor=self.executor,
            handlers=self.handlers,
            clock=self.clock,
            stop=self.stop,
            observer=self.observer,
            run=RunIds(record.run_id, request.stream, job_ids),
            deadline=self._deadline,
            known=self.planner.known,
            store_now=self._store_now,
        )
        self._left = self._watch.left
        log.info(
            "run %s started: %s stream %d, job deadline %s, client limit %s",
            record.job_id,
            request.run_type,
            request.stream,
            human_duration(self.settings.job_timeout),
            human_duration(self.settings.client_timeout),
        )

    def _sweep_and_finish(
        self, request: RunRequest, job_types: tuple[JobType, ...], members: list[Client]
    ) -> RunReport:
        try:
            outcome, message = self._sweep(request, job_types, members)
            quarantined = self.planner.quarantined
            message += endings.skip_note(quarantined, self._unusable, self._left)
            progress = self._ledger.progress
            skipped = len(quarantined) + len(self._unusable) + len(self._left)
            progress.counts = replace(progress.counts, skipped=skipped)
            self._end.finish(outcome, message)
        except LeaseLostError as exc:
            log.error("%s", exc)
            return self._end.report(Outcome.FAILED, str(exc))
        except StoreUnavailableError as exc:
            in_flight = [slot.task.client.id for slot in sorted(self._flight, key=lambda slot: slot.order)]
            return self._end.unreachable(exc, in_flight)
        except Exception as exc:
            if isinstance(exc, FnfError):
                message = f"run failed: {exc}"
                log.error("%s", message)
            else:
                message = f"internal error: {exc!r}"
                log.exception("%s", message)
            self._end.finish_quietly(Outcome.FAILED, message)
            return self._end.report(Outcome.FAILED, message)
        return self._end.report(outcome, message)

    def _sweep(self, request: RunRequest, job_types: tuple[JobType, ...], members: list[Client]) -> tuple[Outcome, str]:
        if not members:
            return Outcome.NO_CLIENTS, endings.no_clients(self.store, request.stream)
        sweeps = self._open_sweeps(request, job_types)
        live = self._watch.live = self._live_runs()
        tasks = self.planner.select(request, sweeps, live)
        if not tasks and not request.new_sweep and not request.client_ids:
            for job_type in job_types:
                self.store.close_sweep(sweeps[job_type], self.clock.now(), "finished")
                log.info("%s sweep of stream %d was already complete", job_type.value, request.stream)
            sweeps = {t: self._new_sweep(t).id for t in job_types}
            tasks = self.planner.select(request, sweeps, live)
        self.observer.sweep_planned(len(tasks))
        stopped = self._fly(request, sweeps, live, tasks)
        if stopped is not None:
            return stopped
        if request.client_ids:
            return Outcome.COMPLETED, f"processed the {len(request.client_ids)} client(s) named with --client"
        self._ledger.flush()
        for job_type in job_types:
            self.store.close_sweep(sweeps[job_type], self.clock.now(), "finished")
        return Outcome.COMPLETED, f"sweep of stream {request.stream} complete"

    def _fly(
        self, request: RunRequest, sweeps: Mapping[JobType, str], live: set[str], tasks: list[Task]
    ) -> tuple[Outcome, str] | None:
        """Run the tasks, up to ``concurrency`` clients at once. Returns how the run stopped, or
        None once every task (and any client that joined the stream meanwhile) is done."""
        queue = deque(tasks)
        flight = self._flight = []
        cut: list[Slot] = []  # clients the stop left unfinished: the next run starts with them
        halted: Why | None = None
        order = itertools.count()
        try:
            while True:
                while halted is None and queue and len(flight) < self.settings.concurrency:
                    slot = Slot(next(order), queue[0], list(queue[0].job_types))
                    halted = self._advance(slot, request, sweeps, len(queue) + len(flight))
                    if halted in (None, Why.LEFT):
                        queue.popleft()
                        if halted is None:
                            flight.append(slot)
                        halted = None
                    else:
                        self._watch.halt(flight, halted)
                if halted is None and (halted := self._stop_reason()) is not None:
                    self._watch.halt(flight, halted)
                if not flight:
                    if not queue and not cut and not request.client_ids:
                        queue.extend(
                            t for t in self.planner.select(request, sweeps, live) if t.client.id not in self._done
                        )
                    if halted is not None and (cut or queue):
                        return self._stopped(halted, cut, queue)
                    if not queue:
                        return None
                    continue
                for slot, ended in self._watch.tend(flight):
                    reason = self._next_step(slot, ended, request, sweeps, halted, len(queue) + len(flight))
                    if reason is None:
                        continue
                    flight.remove(slot)
                    if reason not in (Why.DONE, Why.LEFT):
                        cut.append(slot)
                        if halted is None:
                            halted = reason
                            self._watch.halt(flight, reason)
        except BaseException:
            for slot in flight:  # never leave a client running behind a failed run
                if slot.attempt is not None:
                    slot.attempt.running.kill("killed by SIGKILL: the run failed")
            raise

    def _next_step(
        self,
        slot: Slot,
        ended: Status,
        request: RunRequest,
        sweeps: Mapping[JobType, str],
        halted: Why | None,
        remaining: int,
    ) -> Why | None:
        """After a slot's attempt ended with ``ended``: None if it goes on with the client's next
        job type, DONE if the client is finished, else why the client was left unfinished."""
        if ended is Status.JOB_TIMEOUT_KILLED:
            return halted or self._stop_reason() or Why.JOB
        if not slot.todo:
            self._done.add(slot.task.client.id)
            return Why.DONE
        if halted is not None:
            return halted
        return self._advance(slot, request, sweeps, remaining)

    def _advance(self, slot: Slot, request: RunRequest, sweeps: Mapping[JobType, str], remaining: int) -> Why | None:
        """Start the slot's next job type, or say why not (a signal, the job deadline, admission)."""
        job_type = slot.todo[0]
        reason = self._stop_reason() or self._admission(request, slot.task, job_type)
        if reason is not None:
            return reason
        slot.todo.pop(0)
        slot.attempt = self._watch.begin(slot.task.client, job_type, sweeps[job_type], remaining, len(self._flight))
        if slot.attempt is None:
            self._done.add(slot.task.client.id)
            return Why.LEFT
        return None

    def _open_sweeps(self, request: RunRequest, job_types: Sequence[JobType]) -> dict[JobType, str]:
        sweeps: dict[JobType, str] = {}
        for job_type in job_types:
            current = None if request.new_sweep else self.store.open_sweep(job_type, request.stream)
            sweeps[job_type] = current.id if current else self._new_sweep(job_type).id
        return sweeps

    def _new_sweep(self, job_type: JobType) -> Sweep:
        end = self._end
        sweep = self.store.start_sweep(job_type, end.request.stream, end.record.run_id, self.clock.now())
        log.info("opened %s sweep #%d of stream %d", job_type.value, sweep.number, sweep.stream)
        return sweep

    def _store_now(self) -> datetime:
        """Now on the clock heartbeats are judged by (the store's where it has one)."""
        return self.store.now(self.clock.now())

    def _live_runs(self) -> set[str]:
        now = self._store_now()
        return {
            lease.holder.run_id
            for lease in self.store.leases()
            if lease.holder.run_id != self._end.record.run_id and not leases.is_dead(lease, now)
        }

    def _stop_reason(self) -> Why | None:
        if self.stop.requested:
            return Why.SIGNAL
        if self.clock.monotonic() >= self._deadline:
            return Why.JOB
        return None

    def _admission(self, request: RunRequest, task: Task, job_type: JobType) -> Why | None:
        if not request.admit_by_history:
            return None
        note = self.planner.too_long(task, job_type, self._deadline - self.clock.monotonic())
        if note is None:
            return None
        self._admission_note = note
        log.warning("%s", note)
        return Why.ADMISSION

    def _stopped(self, reason: Why, cut: list[Slot], queue: deque[Task]) -> tuple[Outcome, str]:
        first = min(cut, key=lambda slot: slot.order).task if cut else queue[0]
        remaining = len(cut) + len(queue)
        return self._end.stopped(reason, first.client.id, remaining, self.settings.job_timeout, self._admission_note)
