"""Turning SIGTERM and SIGINT into a stop request the run loop notices within a second.

The handlers only set flags: a signal never raises inside a store write, so a stop always
leaves the store consistent. A wakeup fd makes the loop's ``select`` return at once (PEP 475
would otherwise restart the wait). A second signal asks for an immediate stop.
"""

from __future__ import annotations

import os
import select
import signal
import time
from types import FrameType


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


class SignalGuard:
    """Installs the handlers for the duration of a run and restores the previous ones after."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self, flag: StopFlag) -> None:
        self.flag = flag
        self._previous: dict[int, object] = {}
        self._previous_wakeup = -1
        self._fds: tuple[int, int] | None = None

    def __enter__(self) -> StopFlag:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._fds = (read_fd, write_fd)
        self.flag._read_fd = read_fd
        self.flag._write_fd = write_fd
        self._previous_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for signum in self.SIGNALS:
            if signum == signal.SIGHUP and signal.getsignal(signum) == signal.SIG_IGN:
                continue  # started under nohup: a hangup is meant to be ignored
            self._previous[signum] = signal.signal(signum, self._handle)
        return self.flag

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.flag.request(signal.Signals(signum).name, signum)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        signal.set_wakeup_fd(self._previous_wakeup)
        if self._fds:
            for fd in self._fds:
                os.close(fd)
        self.flag._read_fd = None
        self.flag._write_fd = None


def reset_in_child() -> None:
    """In a freshly forked child: default signal behaviour and no wakeup fd of the parent's."""
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
