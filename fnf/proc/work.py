"""What the runner hands a child process (``Work``), the files they share, and what comes back.

The runner and the child never share memory after the fork: the work travels in the forked
image, the outcome comes back in small files (``WorkFiles``) the child writes and the runner reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fnf.run.work import ChildResult, ResultKind, Work

__all__ = ["ChildResult", "ResultKind", "Work", "WorkFiles"]


@dataclass(frozen=True)
class WorkFiles:
    out: Path
    err: Path
    result: Path
    status: Path
    progress: Path

    @classmethod
    def in_dir(cls, directory: Path, seq: int) -> WorkFiles:
        return cls.at(directory / f"w{seq}")

    @classmethod
    def at(cls, base: Path) -> WorkFiles:
        return cls(*(base.with_suffix(s) for s in (".out", ".err", ".result", ".status", ".progress")))

    @property
    def base(self) -> Path:
        return self.out.with_suffix("")

    def remove(self) -> None:
        for path in (self.out, self.err, self.result, self.status, self.progress):
            path.unlink(missing_ok=True)
