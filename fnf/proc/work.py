"""What the runner hands a child process (``Work``), the files they share, and what comes back.

The work travels to the process server as a message (``fnf.proc.wire``); its output goes to files
(``WorkFiles``) that no pipe can stall; how it ended comes back in the server's report.
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
    progress: Path

    @classmethod
    def in_dir(cls, directory: Path, seq: int) -> WorkFiles:
        return cls.at(directory / f"w{seq}")

    @classmethod
    def at(cls, base: Path) -> WorkFiles:
        return cls(*(base.with_suffix(s) for s in (".out", ".err", ".progress")))

    @property
    def base(self) -> Path:
        return self.out.with_suffix("")

    def remove(self) -> None:
        for path in (self.out, self.err, self.progress):
            path.unlink(missing_ok=True)
