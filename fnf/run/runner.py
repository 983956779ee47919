"""The run loop: lease -> select -> watch each client -> record -> finish.

The runner never runs client code itself. It decides what to run, starts it through an
``Executor`` (real processes in production, a scripted fake in tests), enforces both deadlines,
keeps the heartbeat, and writes every state change before moving on.
"""

from __future__ import annotations

import logging
import uuid
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
    Sweep,
    human_duration,
    job_id_for,
    job_types_of,
)
from fnf.run import endings
from fnf.run import lease as leases
from fnf.run.endings import Ending
from fnf.run.flight import Executor, Flight
from fnf.run.ledger import Ledger
from fnf.run.loop import Breaker, Loop
from fnf.run.observers import Observers, RunObserver, SilentObserver
from fnf.run.plan import Planner
from fnf.run.request import RunReport, RunRequest, summary
from fnf.run.starting import RunIds
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
        # --client is validated before anything is written; a stream is read once the run holds it
        members = self.members(request) if request.client_ids else None
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
        self._loop: Loop | None = None
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
        self, request: RunRequest, job_types: tuple[JobType, ...], members: list[Client] | None
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
            flight = self._loop.in_flight if self._loop is not None else []
            in_flight = [slot.task.client.id for slot in sorted(flight, key=lambda slot: slot.order)]
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

    def _sweep(
        self, request: RunRequest, job_types: tuple[JobType, ...], members: list[Client] | None
    ) -> tuple[Outcome, str]:
        if not self._has_clients(request, job_types, members):
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
        if tasks:
            self.executor.prepare()
        self._loop = Loop(
            self.settings,
            self._watch,
            self.planner,
            request,
            sweeps,
            live,
            self.clock,
            self.stop,
            self._deadline,
            Breaker(self.settings.circuit_breaker_failures, probing=self._circuit_was_open(request)),
            self._end,
        )
        stopped = self._loop.run(tasks)
        if stopped is not None:
            return stopped
        if request.client_ids:
            return Outcome.COMPLETED, f"processed the {len(request.client_ids)} client(s) named with --client"
        self._ledger.flush()
        for job_type in job_types:
            self.store.close_sweep(sweeps[job_type], self.clock.now(), "finished")
        return Outcome.COMPLETED, f"sweep of stream {request.stream} complete"

    def _has_clients(self, request: RunRequest, job_types: tuple[JobType, ...], members: list[Client] | None) -> bool:
        """Whether the run has clients: the ones named with --client, or the stream's, read now
        that the run holds it (the planner keeps that read for the selection; the run does not
        keep its own copy of the stream's clients for the whole sweep)."""
        if members is None:
            members = self.planner.read(request, job_types)
            self._unusable = self._end.unusable = tuple(self.store.unusable(request.stream))
        return bool(members)

    def _circuit_was_open(self, request: RunRequest) -> bool:
        """The previous run of this (type, stream) stopped with the circuit open: start half-open."""
        if not self.settings.circuit_breaker_failures:
            return False
        own = self._end.record.run_id
        for run in self.store.runs(limit=20, run_type=request.run_type, stream=request.stream):
            if run.run_id != own and run.outcome not in (None, Outcome.BUSY):
                return run.outcome is Outcome.CIRCUIT_OPEN
        return False

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
