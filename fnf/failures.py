"""Why a client's attempt failed: a kind an operator can act on, and the exit codes that carry it.

A command tells fnf the kind by its exit code (the BSD ``sysexits.h`` codes command authors
already know); a Python handler by the exception it raises (``fnf.handlers.RetryLater`` ...).
``transient`` failures are retried within the run; the others wait for the next sweep.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class FailureKind(StrEnum):
    TRANSIENT = "transient"
    """It may pass: retried within the run (exit 75, EX_TEMPFAIL; ``RetryLater``)."""
    UNAVAILABLE = "unavailable"
    """A service the work needs is down (exit 69, EX_UNAVAILABLE; ``Unavailable``)."""
    AUTH = "auth"
    """Credentials refused (exit 77, EX_NOPERM; ``AuthFailed``)."""
    DATA = "data"
    """The client's data is wrong (exit 65, EX_DATAERR; ``BadData``)."""
    CONFIG = "config"
    """The work is misconfigured (exit 78, EX_CONFIG; ``BadConfig``)."""
    CRASH = "crash"
    """Any other exit code or exception."""
    SIGNAL = "signal"
    """Killed by a signal fnf did not send (the OOM killer, an operator)."""
    TIMEOUT = "timeout"
    """Stopped by fnf at the client's own limit."""


EXIT_CODES: Mapping[int, FailureKind] = {
    75: FailureKind.TRANSIENT,
    69: FailureKind.UNAVAILABLE,
    77: FailureKind.AUTH,
    65: FailureKind.DATA,
    78: FailureKind.CONFIG,
}


def kind_of_exit(code: int) -> FailureKind:
    return EXIT_CODES.get(code, FailureKind.CRASH)


def parse_kinds(text: str | None) -> dict[str, int]:
    """``"auth=35 crash=3"`` (how a run's failures per kind are kept in one cell) as a dict."""
    found: dict[str, int] = {}
    for part in (text or "").split():
        name, _, number = part.partition("=")
        if name and number.isdigit():
            found[name] = found.get(name, 0) + int(number)
    return found


def format_kinds(kinds: Mapping[str, int]) -> str:
    """The cell form of per-kind counts, most frequent first (ties by name)."""
    ordered = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))
    return " ".join(f"{name}={number}" for name, number in ordered if number)


def add_kind(text: str, kind: str) -> str:
    kinds = parse_kinds(text)
    kinds[kind] = kinds.get(kind, 0) + 1
    return format_kinds(kinds)


def describe_kinds(text: str | None) -> str:
    """``"35 auth, 3 crash"``: per-kind counts for people."""
    return ", ".join(f"{number} {name}" for name, number in parse_kinds(text).items())
