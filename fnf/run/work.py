"""What the run hands an executor for one client's job (``Work``) and what comes back (``ChildResult``).

The run's side of the contract with any executor; ``fnf.proc`` implements it with processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fnf.failures import FailureKind
from fnf.handlers import Handler
from fnf.models import Client, JobType


@dataclass(frozen=True)
class Work:
    client: Client
    job_type: JobType
    job_id: str
    run_id: str
    stream: int
    deadline: datetime
    deadline_monotonic: float
    handler: Handler
    grace: float = 0.0
    """Seconds between SIGTERM and SIGKILL at the deadline (FNF_KILL_GRACE_SECONDS)."""


class ResultKind(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    """fnf stopped it (deadline or signal): the runner decides which status that means."""


@dataclass(frozen=True)
class ChildResult:
    kind: ResultKind
    count: int | None = None
    message: str | None = None
    seconds: float = 0.0
    failure: FailureKind | None = None
    """Why it failed, as the work said (its exit code or exception); None if it succeeded."""
    retry_after: float | None = None
    """Seconds the work asked to wait before a retry (``RetryLater(after=...)``)."""
