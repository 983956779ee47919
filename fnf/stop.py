"""A stop request the run loop and the stores notice: set by a signal (``proc.signals``) or by code.

It lives apart from the signal handling so that the run and the stores depend on the flag alone.
"""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path


class StopFlag:
    """A stop request, set by a signal or by code (tests, a lost lease)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.signum: int | None = None
        self.immediate = False
        self._read_fd: int | None = None
        self._write_fd: int | None = None

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str, signum: int | None = None) -> None:
        if self.reason is not None:
            self.immediate = True
            return
        self.reason = reason
        self.signum = signum

    def name_sender(self, note: Path) -> None:
        """A SIGTERM that ``fnf stop`` announced in ``note`` is named after who sent it."""
        if self.signum != signal.SIGTERM:
            return
        try:
            sender = note.read_text().strip()
            note.unlink()
        except OSError:
            return
        if sender:
            self.reason = sender

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake as soon as a stop is requested (a retry wait must not outlast SIGTERM)."""
        deadline = time.monotonic() + seconds
        while not self.requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            fd = self._read_fd
            if fd is None:
                time.sleep(min(left, 0.1))
            else:
                select.select([fd], [], [], min(left, 1.0))

    def fileno(self) -> int | None:
        """A file descriptor that becomes readable when a signal arrives, or None."""
        return self._read_fd

    def fds(self) -> tuple[int, ...]:
        """Both ends of the wakeup pipe, which a forked child must close."""
        return tuple(fd for fd in (self._read_fd, self._write_fd) if fd is not None)

    def drain(self) -> None:
        if self._read_fd is None:
            return
        try:
            while os.read(self._read_fd, 512):
                pass
        except (BlockingIOError, InterruptedError):
            pass
