"""What a run is asked to do (``RunRequest``) and what it reports back (``RunReport``), with the
exit code that report means for cron, Render or Kubernetes."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

from fnf.errors import EXIT_NO_CLIENTS, EXIT_OK, EXIT_RUN_FAILED, EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM
from fnf.models import JobType, Outcome, RunCounts, Status
from fnf.run.sweep import Task
from fnf.store.base import Unusable


@dataclass(frozen=True)
class RunRequest:
    run_type: str
    stream: int
    client_ids: tuple[str, ...] = ()
    retry_failed: bool = False
    new_sweep: bool = False
    dry_run: bool = False
    admit_by_history: bool = False
    """Do not start a client whose typical duration (p90 of recent runs) cannot fit in the time left."""
    run_id: str | None = None
    """Chosen by whoever started the run in the background (--detach, fnf serve), so it can report it."""
    job_id: str | None = None


@dataclass(frozen=True)
class ClientReport:
    client_id: str
    name: str
    job_type: JobType
    status: Status
    seconds: float
    count: int | None
    message: str | None


@dataclass(frozen=True)
class RunReport:
    run_id: str
    job_id: str
    run_type: str
    stream: int
    outcome: Outcome
    counts: RunCounts = field(default_factory=RunCounts)
    stopped_at: str | None = None
    message: str | None = None
    clients: tuple[ClientReport, ...] = ()
    planned: tuple[Task, ...] = ()
    signum: int | None = None
    omitted: int = 0
    """Plain completions left out of ``clients`` (beyond REPORTED_COMPLETIONS)."""
    unusable: tuple[Unusable, ...] = ()
    """Records of the clients table that no run can process as they stand (named, never dropped)."""

    @property
    def exit_code(self) -> int:
        if self.outcome in (Outcome.FAILED, Outcome.CIRCUIT_OPEN):
            return EXIT_RUN_FAILED
        if self.outcome is Outcome.INTERRUPTED:
            if self.signum is None:  # not a signal: the store became unreachable
                return EXIT_RUN_FAILED
            if self.signum == signal.SIGINT:
                return EXIT_SIGINT
            if self.signum == signal.SIGHUP:
                return EXIT_SIGHUP
            return EXIT_SIGTERM
        if self.outcome is Outcome.NO_CLIENTS:
            return EXIT_NO_CLIENTS
        return EXIT_OK


def summary(report: RunReport) -> str:
    counts = report.counts
    return (
        f"{report.job_id} {report.outcome.value}: {counts.completed} completed, {counts.failed} failed, "
        f"{counts.timed_out} timed out, {counts.skipped} skipped, {counts.remaining} remaining"
        + (f", stopped at {report.stopped_at}" if report.stopped_at else "")
        + (f". {report.message}" if report.message else "")
    )
