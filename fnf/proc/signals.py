"""Turning SIGTERM and SIGINT into a stop request the run loop notices within a second.

The handlers only set flags: a signal never raises inside a store write, so a stop always
leaves the store consistent. A wakeup fd makes the loop's ``select`` return at once (PEP 475
would otherwise restart the wait). A second signal asks for an immediate stop.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

from fnf import interrupts
from fnf.stop import StopFlag

__all__ = ["SignalGuard", "StopFlag", "reset_in_child"]


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
        held = interrupts.take()
        if held is not None:  # Ctrl-C while the command was starting: a stop like any other
            self._handle(held, None)
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
