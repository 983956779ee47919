"""Checking what an operator typed, before anything is opened: a usage error changes nothing."""

from __future__ import annotations

import re

from fnf.config import parse_duration
from fnf.errors import UsageError
from fnf.models import MAX_STREAM, RUN_TYPES


def check_run_type(value: str, *, flag: str = "--type") -> str:
    if value not in RUN_TYPES:
        raise UsageError(f"{flag} {value!r} is not a job type: use one of {', '.join(RUN_TYPES)}")
    return value


def check_stream(value: str | int, *, flag: str = "--stream") -> int:
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]{1,9}", text) or not 1 <= int(text) <= MAX_STREAM:
        raise UsageError(f"{flag} {value!r} is not a stream: streams are numbered 1, 2, 3 ... up to {MAX_STREAM}")
    return int(text)


def parse_age(text: str, *, flag: str) -> float:
    """An age (``30d``, ``12h``, ``90m``): a duration in which days are allowed."""
    return parse_duration(text, name=flag, days=True)
