"""How a run ends: what it records in the store, what it tells its observers, what it reports.

Every ending names what happened and where the next run resumes: a run never ends silently,
and a run that did nothing says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from fnf.clock import Clock
from fnf.errors import StoreError, StoreUnavailableError
from fnf.models import Lease, Outcome, RunCounts, RunRecord, human_duration
from fnf.run import lease as leases
from fnf.run.attempt import Why
from fnf.run.ledger import Ledger
from fnf.run.observers import RunObserver
from fnf.run.request import RunReport, RunRequest
from fnf.stop import StopFlag
from fnf.store.base import RunFinish, Store, Unusable

log = logging.getLogger("fnf.run")

STORE_DOWN_FINISH_SECONDS = 10.0
"""How long a run whose store failed still tries to record its end before exiting."""


def busy(store: Store, clock: Clock, record: RunRecord, lease: Lease, now: datetime) -> RunReport:
    """Another live run holds the stream: record this tick as ``busy`` and change nothing else."""
    message = f"{lease.job_type.value} stream {lease.stream} is busy: held by {leases.describe(lease, now)}"
    log.info("%s; nothing to do", message)
    ended = replace(record, ended_at=clock.now(), outcome=Outcome.BUSY, message=message)
    store.record_run(ended)
    return RunReport(record.run_id, record.job_id, record.run_type, record.stream, Outcome.BUSY, message=message)


def stopped_before_start(store: Store, clock: Clock, stop: StopFlag, record: RunRecord, exc: StoreError) -> RunReport:
    """A signal cut short the taking of the stream (a retry wait on a flaky store)."""
    message = f"interrupted by {stop.reason} while taking the stream ({exc}); nothing was started"
    log.warning("%s", message)
    try:  # withdraw the claim if it was written; if not, the next run takes it over at once
        with store.bounded(STORE_DOWN_FINISH_SECONDS):
            store.finish_run(RunFinish(record.run_id, Outcome.INTERRUPTED, clock.now(), RunCounts(), None, message))
    except Exception as error:
        log.info("nothing to withdraw for run %s: %s", record.run_id, error)
    return RunReport(
        record.run_id,
        record.job_id,
        record.run_type,
        record.stream,
        Outcome.INTERRUPTED,
        message=message,
        signum=stop.signum,
    )


def no_clients(store: Store, stream: int) -> str:
    """Name the streams that do have clients: an empty stream is usually a typo in a cron line."""
    others = sorted({c.stream for c in store.list_clients() if c.stream is not None})
    where = f"streams with clients: {', '.join(map(str, others))}" if others else "the store has no clients"
    message = (
        f"stream {stream} has no clients ({where}); nothing was processed. Check --stream, or move clients "
        f"into it: fnf streams assign"
    )
    log.warning("%s", message)
    return message


def skip_note(quarantined: Sequence[str], unusable: Sequence[Unusable], left: Sequence[str] = ()) -> str:
    """Every client the run passed over on purpose, named (the first few) and counted."""
    note = ""
    if left:
        shown = ", ".join(left[:5]) + (", ..." if len(left) > 5 else "")
        note += f"; skipped {len(left)} client(s) that left the stream or ran elsewhere before their start: {shown}"
    if quarantined:
        shown = ", ".join(quarantined[:5]) + (", ..." if len(quarantined) > 5 else "")
        note += f"; skipped {len(quarantined)} quarantined client(s): {shown} (fnf clients release ID)"
    if unusable:
        shown = "; ".join(str(u) for u in unusable[:5])
        more = f"; and {len(unusable) - 5} more (fnf status lists them)" if len(unusable) > 5 else ""
        note += f"; {len(unusable)} record(s) not processed: {shown}{more}"
    return note


@dataclass
class Ending:
    """The end of a run that holds its stream: recorded through its ledger, then reported."""

    store: Store
    ledger: Ledger
    observer: RunObserver
    clock: Clock
    stop: StopFlag
    request: RunRequest
    record: RunRecord
    unusable: tuple[Unusable, ...]

    def stopped(
        self, reason: Why, first: str | None, remaining: int, job_timeout: float, note: str
    ) -> tuple[Outcome, str]:
        """The sweep stopped before its end (``reason``: signal, job, admission, circuit) at client
        ``first`` (None: nothing was left); ``note`` says why for admission and the circuit."""
        progress = self.ledger.progress
        progress.stopped_at = first
        progress.counts = replace(progress.counts, remaining=remaining)
        self.ledger.flush()
        where = f"stopped at client {first} with {remaining} client(s) left in the sweep" if first else "none left"
        if reason is Why.SIGNAL:
            return Outcome.INTERRUPTED, f"interrupted by {self.stop.reason}; {where}"
        if reason is Why.ADMISSION:
            return Outcome.STOPPED_AT_DEADLINE, f"{note}; {where}"
        if reason is Why.CIRCUIT:
            return Outcome.CIRCUIT_OPEN, f"{note}; {where}; the next run starts with one client"
        return Outcome.STOPPED_AT_DEADLINE, f"job deadline ({human_duration(job_timeout)}) reached; {where}"

    def unreachable(self, exc: StoreUnavailableError, in_flight: Sequence[str]) -> RunReport:
        """The store stopped answering: say where the next run resumes, record it if it can."""
        progress = self.ledger.progress
        if progress.stopped_at is None:  # the first client whose end is not in the store
            unrecorded = [update.client_id for update in progress.pending] + list(in_flight)
            progress.stopped_at = unrecorded[0] if unrecorded else None
        where = f"the next run resumes at client {progress.stopped_at}" if progress.stopped_at else "nothing was lost"
        message = f"interrupted: the store is unreachable ({exc}); {where}"
        log.error("%s", message)
        with self.store.bounded(STORE_DOWN_FINISH_SECONDS):
            self.finish_quietly(Outcome.INTERRUPTED, message)
        return self.report(Outcome.INTERRUPTED, message)

    def finish(self, outcome: Outcome, message: str) -> None:
        self.ledger.flush()
        progress = self.ledger.progress
        if outcome is Outcome.COMPLETED:
            progress.counts = replace(progress.counts, remaining=0)
        alerts = self.observer.run_ending(outcome, message, progress.stopped_at, progress.counts.remaining)
        self.ledger.finish(outcome, self.clock.now(), message, alerts)
        log.info("run %s %s: %s", self.record.job_id, outcome.value, message)

    def finish_quietly(self, outcome: Outcome, message: str) -> None:
        try:
            self.finish(outcome, message)
        except Exception as exc:  # the store may be what failed; the report still goes out
            log.error("could not record the run's end: %s", exc)

    def report(self, outcome: Outcome, message: str) -> RunReport:
        progress = self.ledger.progress
        return RunReport(
            self.record.run_id,
            self.record.job_id,
            self.request.run_type,
            self.request.stream,
            outcome,
            progress.counts,
            progress.stopped_at,
            message,
            tuple(progress.reports),
            signum=self.stop.signum,
            omitted=progress.omitted,
            unusable=self.unusable,
        )
