"""What the runner hands a child process (``Work``), the files they share, and what comes back.

The runner and the child never share memory after the fork: the work travels in the forked
image, the outcome comes back in small files (``WorkFiles``) the child writes and the runner reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

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


@dataclass(frozen=True)
class WorkFiles:
    out: Path
    err: Path
    result: Path
    status: Path
    progress: Path

    @classmethod
    def in_dir(cls, directory: Path, seq: int) -> WorkFiles:
        base = directory / f"w{seq}"
        return cls(*(base.with_suffix(s) for s in (".out", ".err", ".result", ".status", ".progress")))

    def remove(self) -> None:
        for path in (self.out, self.err, self.result, self.status, self.progress):
            path.unlink(missing_ok=True)
