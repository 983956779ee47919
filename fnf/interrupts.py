"""A Ctrl-C (SIGINT) that arrives while the ``fnf`` command is still starting is remembered, not raised.

Python's own handler raises ``KeyboardInterrupt`` wherever the interpreter happens to be: inside an
import, a weakref callback (where Python prints "Exception ignored" and goes on, so the interrupt is
lost and the run carries on for hours) or a click handler (exit 1). From its first line the command
holds SIGINT instead; a run adopts what was held as its stop request, and every other command gets
Python's handler back before it starts, so ``--watch`` and ``serve`` stop on Ctrl-C as before.

What no code of fnf's can cover is the interpreter's own start (some 15-40 ms before the first
line): a Ctrl-C then ends the process as Python does, with a KeyboardInterrupt and status 1, before
fnf has read or written anything.
"""

from __future__ import annotations

import signal
from types import FrameType

_held: list[int] = []


def _remember(signum: int, frame: FrameType | None) -> None:
    _held.append(signum)


def hold() -> None:
    """Remember a SIGINT from now on instead of raising it."""
    signal.signal(signal.SIGINT, _remember)


def take() -> int | None:
    """The signal held so far, if any; it is forgotten (the caller acts on it)."""
    signum = _held[0] if _held else None
    _held.clear()
    return signum


def release() -> None:
    """Python's handler again; a SIGINT held until now is raised at once as ``KeyboardInterrupt``."""
    held = take()
    if signal.getsignal(signal.SIGINT) is _remember:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held is not None:
        raise KeyboardInterrupt
