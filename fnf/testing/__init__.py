"""Test doubles that ship with fnf: a fake clock, an in-memory store and a scripted executor.

They are part of the package (and tested like it) so that handler authors and the project's
own tests can exercise run semantics, deadlines included, without sleeping or forking.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fnf.errors import LeaseLostError
from fnf.models import (
    Client,
    JobState,
    JobType,
    Lease,
    Outcome,
    RunRecord,
    StateUpdate,
    Status,
    Sweep,
)
from fnf.run.work import ChildResult, ResultKind, Work
from fnf.store.base import (
    Acquired,
    Busy,
    ImportReport,
    LeaseJudge,
    RunFinish,
    RunProgress,
    Store,
    Unusable,
    claim,
    taken_over_note,
    unassigned,
)


class FakeClock:
    """A clock that moves only when told to. Wall and monotonic time move together."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 9, 20, 14, 30, 22, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


class MemoryStore(Store):
    """The Store contract kept in dictionaries: fast, inspectable, and held to the same suite."""

    name = "memory"

    def __init__(self) -> None:
        self.clients: dict[str, tuple[int, Client]] = {}
        self.states: dict[tuple[str, JobType], JobState] = {}
        self.sweeps: dict[str, Sweep] = {}
        self._runs: dict[str, RunRecord] = {}
        self._leases: dict[tuple[JobType, int], Lease] = {}
        self._position = 0
        self.writes = 0

    def list_clients(self, stream: int | None = None) -> list[Client]:
        ordered = sorted(self.clients.values(), key=lambda pc: (pc[0], pc[1].id))
        return [c for _, c in ordered if stream is None or c.stream == stream]

    def unusable(self, stream: int | None = None) -> list[Unusable]:
        return unassigned(self.list_clients())

    def import_clients(self, clients: Sequence[Client]) -> ImportReport:
        added = updated = unchanged = 0
        for client in clients:
            client = replace(client, fields=copy.deepcopy(dict(client.fields)))
            known = self.clients.get(client.id)
            if known is None:
                self._position += 1
                self.clients[client.id] = (self._position, client)
                added += 1
            elif known[1] == client:
                unchanged += 1
            else:
                self.clients[client.id] = (known[0], client)
                updated += 1
        return ImportReport(added, updated, unchanged)

    def remove_clients(self, client_ids: Sequence[str]) -> int:
        removed = 0
        for client_id in client_ids:
            if self.clients.pop(client_id, None) is not None:
                removed += 1
                for job_type in JobType:
                    self.states.pop((client_id, job_type), None)
        return removed

    def job_states(self, job_type: JobType, stream: int | None = None) -> dict[str, JobState]:
        return {
            cid: state
            for (cid, jt), state in self.states.items()
            if jt == job_type and (stream is None or self.clients[cid][1].stream == stream)
        }

    def save(self, updates: Sequence[StateUpdate], progress: RunProgress) -> frozenset[str]:
        if not any(lease.holder.run_id == progress.run_id for lease in self._leases.values()):
            raise LeaseLostError(f"run {progress.run_id} no longer holds its stream")
        self.writes += 1
        refused = frozenset(u.client_id for u in updates if self._refuses(u, progress))
        for update in updates:
            if update.client_id in self.clients and update.client_id not in refused:
                self.states[(update.client_id, update.job_type)] = update.state
        run = self._runs[progress.run_id]
        self._runs[progress.run_id] = replace(run, counts=progress.counts, stopped_at=progress.stopped_at)
        return refused

    def _refuses(self, update: StateUpdate, progress: RunProgress) -> bool:
        if update.state.status is not Status.STARTED or progress.stream is None:
            return False
        member = self.clients.get(update.client_id)
        if member is None or member[1].stream != progress.stream:
            return True
        current = self.states.get((update.client_id, update.job_type))
        live = {lease.holder.run_id for lease in self._leases.values()}
        return (
            current is not None
            and current.status.in_progress
            and current.run_id != progress.run_id
            and current.run_id in live
        )

    def put_states(self, updates: Sequence[StateUpdate]) -> None:
        for update in updates:
            if update.client_id in self.clients:
                self.states[(update.client_id, update.job_type)] = update.state

    def open_sweep(self, job_type: JobType, stream: int) -> Sweep | None:
        open_ = [
            s for s in self.sweeps.values() if s.job_type == job_type and s.stream == stream and s.closed_at is None
        ]
        return max(open_, key=lambda s: s.number) if open_ else None

    def start_sweep(self, job_type: JobType, stream: int, run_id: str, now: datetime) -> Sweep:
        numbers = [0]
        for sweep_id, sweep in list(self.sweeps.items()):
            if sweep.job_type == job_type and sweep.stream == stream:
                numbers.append(sweep.number)
                if sweep.closed_at is None:
                    self.sweeps[sweep_id] = replace(sweep, closed_at=now, close_reason="superseded")
        sweep = Sweep(uuid.uuid4().hex[:12], job_type, stream, max(numbers) + 1, now, run_id)
        self.sweeps[sweep.id] = sweep
        return sweep

    def close_sweep(self, sweep_id: str, now: datetime, reason: str) -> None:
        sweep = self.sweeps[sweep_id]
        if sweep.closed_at is None:
            self.sweeps[sweep_id] = replace(sweep, closed_at=now, close_reason=reason)

    def acquire(
        self,
        run: RunRecord,
        job_types: Sequence[JobType],
        stale_after: float,
        is_dead: LeaseJudge,
    ) -> Acquired | Busy:
        held = [lease for t in job_types if (lease := self._leases.get((t, run.stream))) is not None]
        verdict = claim(held, is_dead)
        if isinstance(verdict, Busy):
            return verdict
        for lease in verdict.taken_over:
            old = self._runs.get(lease.holder.run_id)
            if old is not None and old.outcome is None:
                self._runs[old.run_id] = replace(
                    old,
                    outcome=Outcome.ABANDONED,
                    ended_at=old.heartbeat_at,
                    message=old.message or taken_over_note(run.run_id),
                )
        self._runs[run.run_id] = run
        for job_type in job_types:
            self._leases[(job_type, run.stream)] = Lease(
                job_type, run.stream, run.holder, run.started_at, run.started_at, stale_after
            )
        return verdict

    def heartbeat(self, run_id: str, now: datetime) -> bool:
        held = False
        for key, lease in self._leases.items():
            if lease.holder.run_id == run_id:
                self._leases[key] = replace(lease, heartbeat_at=now)
                held = True
        if run_id in self._runs:
            self._runs[run_id] = replace(self._runs[run_id], heartbeat_at=now)
        return held

    def finish_run(self, finish: RunFinish) -> None:
        run = self._runs[finish.run_id]
        if run.outcome is None or run.outcome == finish.outcome:
            self._runs[finish.run_id] = replace(
                run,
                ended_at=finish.ended_at,
                outcome=finish.outcome,
                counts=finish.counts,
                stopped_at=finish.stopped_at,
                message=finish.message,
                alerts=finish.alerts,
            )
        for key, lease in list(self._leases.items()):
            if lease.holder.run_id == finish.run_id:
                del self._leases[key]

    def record_run(self, run: RunRecord) -> None:
        self._runs[run.run_id] = run

    def prune_runs(self, before: datetime) -> int:
        held = {lease.holder.run_id for lease in self._leases.values()}
        old = [r.run_id for r in self._runs.values() if r.ended_at and r.ended_at < before and r.run_id not in held]
        for run_id in old:
            del self._runs[run_id]
        return len(old)

    def runs(self, *, limit: int = 50, run_type: str | None = None, stream: int | None = None) -> list[RunRecord]:
        found = [
            r
            for r in reversed(self._runs.values())
            if (run_type is None or r.run_type == run_type) and (stream is None or r.stream == stream)
        ]
        found.sort(key=lambda r: r.started_at, reverse=True)
        return found[:limit]

    def leases(self) -> list[Lease]:
        return sorted(self._leases.values(), key=lambda held: (held.job_type.value, held.stream))


@dataclass(frozen=True)
class Script:
    """How a scripted client behaves: how long it takes and how it ends."""

    seconds: float = 0.1
    count: int | None = 1
    error: str | None = None
    ignores_term: bool = False
    on_start: Callable[[], None] | None = None
    progress: dict[str, Any] | None = None


@dataclass
class ScriptedExecutor:
    """Runs no process: each client 'takes' its scripted time on a FakeClock."""

    clock: FakeClock
    scripts: Mapping[str, Script] = field(default_factory=dict)
    default: Script = Script()
    started: list[tuple[str, JobType]] = field(default_factory=list)
    starts: list[tuple[str, JobType, float]] = field(default_factory=list)
    """Each start with the fake monotonic time it happened at (to check what ran side by side)."""
    most_at_once: int = 0
    _running: list[ScriptedRunning] = field(default_factory=list)

    def prepare(self) -> None:
        pass

    def start(self, work: Work) -> ScriptedRunning:
        script = self.scripts.get(work.client.id, self.default)
        self.started.append((work.client.id, work.job_type))
        self.starts.append((work.client.id, work.job_type, self.clock.monotonic()))
        if script.on_start is not None:
            script.on_start()
        running = ScriptedRunning(self.clock, script, self.clock.monotonic())
        self._running = [r for r in self._running if r.result is None] + [running]
        self.most_at_once = max(self.most_at_once, len(self._running))
        return running

    def wait_any(self, children: Sequence[object], timeout: float) -> None:
        """Move the clock to the first scripted end among ``children``, or by ``timeout``."""
        now = self.clock.monotonic()
        ends = [child.end_at() for child in children if isinstance(child, ScriptedRunning)]
        self.clock.advance(max(0.0, min([now + max(0.0, timeout), *ends]) - now))


@dataclass
class ScriptedRunning:
    clock: FakeClock
    script: Script
    t0: float
    terminated_at: float | None = None
    result: ChildResult | None = None

    def end_at(self) -> float:
        """When this client ends by itself: its scripted time, or at once if asked to stop and it obeys."""
        if self.result is not None:
            return self.clock.monotonic()
        if self.terminated_at is not None:
            return float("inf") if self.script.ignores_term else self.terminated_at
        return self.t0 + self.script.seconds

    def wait(self, timeout: float) -> ChildResult | None:
        now = self.clock.monotonic()
        end = self.end_at()
        if end <= now + timeout:
            self.clock.advance(max(0.0, end - now))
            return self._ended()
        self.clock.advance(max(0.0, timeout))
        return None

    def _ended(self) -> ChildResult:
        if self.result is None:
            seconds = self.clock.monotonic() - self.t0
            if self.terminated_at is not None:
                self.result = ChildResult(ResultKind.STOPPED, message="stopped by SIGTERM", seconds=seconds)
            elif self.script.error is not None:
                self.result = ChildResult(ResultKind.FAILED, message=self.script.error, seconds=self.script.seconds)
            else:
                self.result = ChildResult(ResultKind.SUCCEEDED, count=self.script.count, seconds=self.script.seconds)
        return self.result

    def terminate(self) -> None:
        if self.terminated_at is None and self.result is None:
            self.terminated_at = self.clock.monotonic()

    def kill(self, how: str = "killed by SIGKILL") -> ChildResult:
        if self.result is None:
            seconds = self.clock.monotonic() - self.t0
            self.result = ChildResult(ResultKind.STOPPED, message=how, seconds=seconds)
        return self.result

    def stop(self, grace: float) -> ChildResult:
        if self.script.ignores_term:
            self.clock.advance(grace)
            how = f"killed by SIGKILL after {grace:g} s grace"
        else:
            how = "stopped by SIGTERM"
        self.result = ChildResult(ResultKind.STOPPED, message=how, seconds=self.clock.monotonic() - self.t0)
        return self.result

    def progress(self) -> dict[str, Any] | None:
        return self.script.progress


class RecordingChannel:
    """An alert channel that keeps what it is sent (``fnf.alerts.Dispatcher`` accepts it)."""

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.messages: list[Any] = []

    def send(self, message: Any, timeout: float) -> None:
        self.messages.append(message)

    @property
    def subjects(self) -> list[str]:
        return [m.subject for m in self.messages]
