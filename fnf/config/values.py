"""Reading one setting: defaults, .env, the environment; durations and numbers with units."""

from __future__ import annotations

import io
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from fnf.config.known import unknown
from fnf.errors import ConfigError

STORES = ("sqlite", "airtable")

DEFAULTS: dict[str, str] = {
    "FNF_STORE": "sqlite",
    "FNF_DB": "./fnf.db",
    "MAX_CLIENT_PROCESSING_MINUTES": "10",
    "MAX_JOB_PROCESSING_HOURS": "2",
    "HEARTBEAT_INTERVAL_MINUTES": "1",
    "FNF_KILL_GRACE_SECONDS": "10",
    "FNF_CHILD_LOG_MAX_BYTES": "262144",
    "AIRTABLE_CLIENTS_TABLE": "Clients",
    "AIRTABLE_RUNS_TABLE": "Job Runs",
    "AIRTABLE_SWEEPS_TABLE": "Sweeps",
    "AIRTABLE_ENDPOINT_URL": "https://api.airtable.com",
    "AIRTABLE_REQUESTS_PER_SECOND": "5",
    "AIRTABLE_RATE_LIMIT_WAIT_SECONDS": "30",
    "AIRTABLE_RETRY_BUDGET_SECONDS": "300",
    "AIRTABLE_TIMEOUT_SECONDS": "30",
    "SENDGRID_API_URL": "https://api.sendgrid.com/v3/mail/send",
    "FNF_ALERT_QUIET_MINUTES": "360",
    "FNF_ALERT_TIMEOUT_SECONDS": "5",
    "FNF_QUARANTINE_AFTER": "3",
    "FNF_CONCURRENCY": "1",
    "FNF_DB_BUSY_SECONDS": "30",
    "FNF_RETRY_ATTEMPTS": "2",
    "FNF_RETRY_BACKOFF_SECONDS": "30",
    "FNF_CIRCUIT_BREAKER_FAILURES": "5",
    "FNF_WRITE_BATCH": "1",
}

MAX_CONCURRENCY = 64
"""More clients at once than this on one runner is a typo, not a plan: use more streams."""

SECRET_SETTINGS = frozenset(
    {
        "AIRTABLE_API_KEY",
        "SENDGRID_API_KEY",
        "SMTP_URL",
        "SLACK_WEBHOOK_URL",
        "ALERT_WEBHOOK_SECRET",
        "FNF_PING_URL",
        "FNF_PUSHGATEWAY_URL",
        "SENTRY_DSN",
    }
)
"""Values that never appear in a log, an error message or --json output."""

SIGNAL_GRACE_CAP_SECONDS = 15.0
"""On SIGTERM the grace is capped so fnf exits well inside Render's 30 s before SIGKILL."""


log = logging.getLogger("fnf.config")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, *, name: str, days: bool = False, allow_zero: bool = False) -> float:
    """Parse ``90s``, ``10m``, ``2h``, ``1h30m`` or ``0.5s`` into seconds (> 0); with ``days``
    (ages of history, not limits of a run) also ``30d``."""
    cleaned = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(cleaned):
        if match.start() != pos or (match.group(2) == "d" and not days):
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    examples = "30d, 12h or 90m" if days else "90s, 10m, 2h or 1h30m"
    if not cleaned or pos != len(cleaned):
        hint = " (add a unit)" if _is_number(cleaned) else ""
        raise ConfigError(f"{name} {text!r} is not a duration{hint}: use a number with a unit, such as {examples}")
    if total <= 0 and not (allow_zero and total == 0):
        raise ConfigError(f"{name} {text!r} must be longer than zero: use, for example, {examples}")
    return total


def parse_limit(text: str, *, name: str, unit: str, unit_seconds: float, allow_zero: bool = False) -> float:
    """A limit given on the command line, in seconds: a number in the setting's own unit (``90``
    for a client limit is 90 minutes, as in MAX_CLIENT_PROCESSING_MINUTES) or a duration with its
    unit (``90s``, ``10m``, ``2h``, ``1h30m``). One rule for flags and settings."""
    cleaned = text.strip()
    if _is_number(cleaned):
        value = float(cleaned)
        if math.isnan(value) or math.isinf(value) or value < 0 or (value == 0 and not allow_zero):
            floor = "zero or more" if allow_zero else "longer than zero"
            raise ConfigError(
                f"{name} {text!r} must be {floor}: use a number of {unit} or a duration such as 90s or 2h"
            )
        return value * unit_seconds
    try:
        return parse_duration(cleaned, name=name, allow_zero=allow_zero)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (or a plain number of {unit})") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(name: str, raw: str, source: str, *, unit: str, allow_zero: bool = False, integer: bool = False) -> float:
    accepted = "a whole number of" if integer else "a number of"
    floor = "zero or more" if allow_zero else "greater than zero"
    example = "0, 5 or 10" if allow_zero else ("10" if integer else "10 or 2.5")
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    bad = (
        math.isnan(value)
        or math.isinf(value)
        or value < 0
        or (value == 0 and not allow_zero)
        or (integer and not value.is_integer())
    )
    if bad:
        raise ConfigError(f"{name}={raw!r} ({source}) is not valid: use {accepted} {unit} {floor}, such as {example}")
    return value


def _setting(
    values: Mapping[str, str],
    src: Callable[[str], str],
    key: str,
    *,
    unit: str,
    allow_zero: bool = False,
    integer: bool = False,
) -> float:
    """The number a setting holds, validated by ``_number`` with the setting's name and source."""
    return _number(key, values[key], src(key), unit=unit, allow_zero=allow_zero, integer=integer)


def _limit(
    values: Mapping[str, str],
    src: Callable[[str], str],
    key: str,
    *,
    unit: str,
    unit_seconds: float,
    allow_zero: bool = False,
) -> float:
    """A time limit setting, in seconds: a number in its own unit (MAX_JOB_PROCESSING_HOURS=2) or a
    duration with its unit (MAX_JOB_PROCESSING_HOURS=90m), the same rule as the flags."""
    raw = values[key]
    if not _is_number(raw.strip()):
        try:
            return parse_duration(raw, name=key, allow_zero=allow_zero)
        except ConfigError:
            pass  # the message below names both forms
    try:
        return unit_seconds * _number(key, raw, src(key), unit=unit, allow_zero=allow_zero)
    except ConfigError as exc:
        raise ConfigError(f"{exc}, or a duration with its unit, such as 90s, 10m or 2h") from None


def load_environ(
    env_file: str | os.PathLike[str] | None = None, *, warn: bool = True
) -> tuple[dict[str, str], dict[str, str]]:
    """Return (merged values, source of each) from defaults, the .env file and the environment.
    A .env line that cannot be read is an error naming the file and the line: half a file read
    would run with settings nobody chose."""
    from dotenv import dotenv_values

    path = Path(env_file if env_file is not None else os.environ.get("FNF_ENV_FILE", ".env"))
    merged: dict[str, str] = dict(DEFAULTS)
    sources = {key: "default" for key in DEFAULTS}
    from_file: list[str] = []
    if path.is_file():
        _check_env_file(path)
        for key, value in dotenv_values(path).items():
            if value is not None:
                merged[key] = value
                sources[key] = f"from {path}"
                from_file.append(key)
    for key, value in os.environ.items():
        merged[key] = value
        sources[key] = "from the environment"
    for warning in unknown(from_file, os.environ, str(path)) if warn else ():
        _warn_once(warning)
    return merged, sources


def unknown_settings(env_file: str | os.PathLike[str] | None = None) -> list[str]:
    """The names that look like settings fnf does not read, one warning each (for fnf doctor)."""
    path = str(Path(env_file if env_file is not None else os.environ.get("FNF_ENV_FILE", ".env")))
    _, sources = load_environ(env_file, warn=False)
    from_file = [key for key, source in sources.items() if source == f"from {path}"]
    return unknown(from_file, os.environ, path)


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning("%s", message)


def _check_env_file(path: Path) -> None:
    from dotenv.parser import parse_stream

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix or remove the file (FNF_ENV_FILE names another)") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.string.strip().splitlines()[0] if binding.original.string.strip() else ""
            shown = line if "=" not in line else line.split("=", 1)[0] + "=..."
            raise ConfigError(
                f"{path} line {binding.original.line}: cannot read {shown!r}: write NAME=value, one per line, "
                'with a value that has spaces, # or quotes in matching quotes (NAME="a b")'
            )


def _url(key: str, value: str, src: Callable[[str], str], schemes: tuple[str, ...], example: str) -> str:
    parts = value.split("://", 1)
    if len(parts) != 2 or parts[0].lower() not in schemes or not parts[1].split("/", 1)[0]:
        shown = f"{parts[0]}://..." if len(parts) == 2 else "(not a URL)"
        raise ConfigError(
            f"{key} ({src(key)}) is not a {'/'.join(schemes)} URL: it starts {shown}; use, for example, {example}"
        )
    try:
        urlsplit(value).port  # noqa: B018 - parsing is the check: a bad host or port raises
    except ValueError as exc:
        raise ConfigError(
            f"{key} ({src(key)}) is not a valid URL ({exc}): check its host and port; use, for example, {example}"
        ) from None
    return value
