"""What a run writes, and when: client states batched with the run's counts, heartbeats, the end.

Every state change is written before the run moves on; the end states of clients wait in
``pending`` only until the next write (a start, a heartbeat's RUNNING, the end), so that a batching
store carries them in the same request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime

from fnf.errors import LeaseLostError, StoreUnavailableError
from fnf.failures import add_kind
from fnf.models import Client, JobState, JobType, Outcome, RunCounts, StateUpdate, Status, human_duration
from fnf.run.request import ClientReport
from fnf.store.base import RunFinish, RunProgress, Store

log = logging.getLogger("fnf.run")

REPORTED_COMPLETIONS = 1000
"""Plain completions kept for the run's report beyond this are only counted: a 100,000-client run
keeps flat memory. Every client that needs attention is always reported."""


@dataclass
class Progress:
    counts: RunCounts = field(default_factory=RunCounts)
    stopped_at: str | None = None
    pending: list[StateUpdate] = field(default_factory=list)
    reports: list[ClientReport] = field(default_factory=list)
    plain: int = 0
    omitted: int = 0


class Ledger:
    """The run's writes to its store."""

    def __init__(self, store: Store, run_id: str, stream: int, *, started: float, stale_after: float) -> None:
        self.store = store
        self.run_id = run_id
        self.stream = stream
        self.progress = Progress()
        self.stale_after = stale_after
        self._last_beat = started

    def record(self, client: Client, job_type: JobType, state: JobState, *, final: bool = True) -> None:
        """Keep an end for the next write; ``final`` False: an attempt whose retry is to come,
        logged as it ended but neither counted nor reported, and written ``RUNNING``: the client
        is still the run's, and if the run dies before the retry the next one resumes it first."""
        progress = self.progress
        self._log(client, job_type, state)
        if not final:
            progress.pending.append(StateUpdate(client.id, job_type, replace(state, status=Status.RUNNING)))
            return
        progress.pending.append(StateUpdate(client.id, job_type, state))
        counts = progress.counts
        if state.status is Status.COMPLETED:
            counts = replace(counts, completed=counts.completed + 1)
        elif state.status is Status.FAILED:
            counts = replace(counts, failed=counts.failed + 1)
        elif state.status is Status.CLIENT_TIMEOUT_KILLED:
            counts = replace(counts, timed_out=counts.timed_out + 1)
        if state.failure_kind:
            counts = replace(counts, failure_kinds=add_kind(counts.failure_kinds, state.failure_kind))
        progress.counts = counts
        plain = state.status is Status.COMPLETED and not state.message
        if plain and progress.plain >= REPORTED_COMPLETIONS:
            progress.omitted += 1
        else:
            progress.plain += plain
            progress.reports.append(
                ClientReport(
                    client.id,
                    client.name,
                    job_type,
                    state.status,
                    state.last_run_seconds or 0.0,
                    state.count,
                    state.message,
                )
            )

    def _log(self, client: Client, job_type: JobType, state: JobState) -> None:
        level = logging.INFO if state.status is Status.COMPLETED and not state.message else logging.WARNING
        log.log(
            level,
            "%s: %s (%s) %s in %s%s%s",
            job_type.value,
            client.id,
            client.name,
            state.status.value,
            human_duration(state.last_run_seconds),
            f", count {state.count}" if state.count is not None else "",
            f": {state.message}" if state.message else "",
        )

    def save(self, updates: list[StateUpdate], remaining: int | None) -> frozenset[str]:
        """Write pending end states together with ``updates`` (one request on batching stores)."""
        progress = self.progress
        if remaining is not None:
            progress.counts = replace(progress.counts, remaining=remaining)
        batch = progress.pending + updates
        refused = self.store.save(batch, RunProgress(self.run_id, progress.counts, progress.stopped_at, self.stream))
        progress.pending = []  # only once written: a failed save keeps them for the next one
        return refused

    def flush(self) -> None:
        if self.progress.pending:
            self.save([], None)

    def beat(self, now: float, store_now: datetime, interval: float) -> None:
        """Refresh the heartbeat (``now`` on the monotonic clock, ``store_now`` on the store's).

        A failed heartbeat is retried at the next interval, unless the silence would let another
        run take the stream over: then the run stops. A lease found gone stops it at once.
        """
        try:
            held = self.store.heartbeat(self.run_id, store_now)
        except StoreUnavailableError as exc:
            silent = now - self._last_beat
            if silent + interval >= self.stale_after:
                raise StoreUnavailableError(
                    f"no heartbeat reached the store for {silent:.0f} s; stopping before another run may "
                    f"take the stream over ({exc})"
                ) from exc
            log.warning("heartbeat failed, retrying at the next interval: %s", exc)
            return
        self._last_beat = now
        if not held:
            raise LeaseLostError(f"run {self.run_id} lost its stream to another run (its heartbeat was late); stopping")

    def finish(self, outcome: Outcome, ended_at: datetime, message: str, alerts: str | None) -> None:
        """Record the run's end (with every state still pending) and free its stream."""
        progress = self.progress
        self.store.finish_run(
            RunFinish(self.run_id, outcome, ended_at, progress.counts, progress.stopped_at, message, alerts)
        )
