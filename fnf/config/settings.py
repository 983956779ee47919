"""Settings: defaults < .env < environment < command-line flags, validated before anything runs.

The environment variable names are the ones operators already have in their Render dashboards
and crontabs; they are part of the interface and never renamed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fnf.config.airtable import AirtableSettings, _airtable
from fnf.config.alerts import AlertSettings, _alerts
from fnf.config.values import (
    DEFAULTS,
    MAX_CONCURRENCY,
    SIGNAL_GRACE_CAP_SECONDS,
    STORES,
    _limit,
    _setting,
    load_environ,
    parse_limit,
)
from fnf.errors import ConfigError
from fnf.handlers import HandlerSpec
from fnf.metrics import MetricsSettings
from fnf.models import JobType
from fnf.sentry_crons import SentrySettings


@dataclass(frozen=True)
class Settings:
    store: str
    db_path: Path
    client_timeout: float
    job_timeout: float
    heartbeat_interval: float
    kill_grace: float
    child_log_max_bytes: int
    handlers: Mapping[JobType, HandlerSpec] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The merged environment (.env under the real one) that child processes receive."""
    airtable: AirtableSettings | None = None
    alerts: AlertSettings = field(default_factory=AlertSettings)
    quarantine_after: int = 3
    """Consecutive client timeouts before a client is quarantined; 0 never quarantines."""
    concurrency: int = 1
    """Clients of the stream processed at once, each in its own watched process."""
    db_busy_seconds: float = 30.0
    """How long a SQLite write waits for another process's lock before the run stops interrupted."""
    retry_attempts: int = 2
    """Retries within the run of a client that failed for a reason that may pass (0: never)."""
    retry_backoff: float = 30.0
    """Seconds before the first retry; each next one waits twice as long (with jitter)."""
    circuit_breaker_failures: int = 5
    """Clients failing in a row that stop the run as ``circuit_open`` (0: never)."""
    write_batch: int = 1
    """Clients recorded STARTED ahead in one write, their ends written with the next such write
    (FNF_WRITE_BATCH). 1 is exact: a crash repeats at most the clients in flight. N repeats at most N
    more, for up to N times fewer writes (an Airtable month within a plan's call quota)."""
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    sentry: SentrySettings = field(default_factory=SentrySettings)

    @property
    def stale_after(self) -> float:
        """A run whose heartbeat is older than three intervals is dead."""
        return 3 * self.heartbeat_interval

    @property
    def signal_grace(self) -> float:
        return min(self.kill_grace, SIGNAL_GRACE_CAP_SECONDS)


@dataclass(frozen=True)
class Overrides:
    """Values from command-line flags; ``None`` means the flag was not given."""

    db: str | None = None
    client_timeout: str | None = None
    job_timeout: str | None = None
    kill_grace: str | None = None
    concurrency: str | None = None


def load_settings(
    overrides: Overrides = Overrides(),
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """Build validated settings; raises :class:`ConfigError` naming the first bad value."""
    if environ is None:
        values, sources = load_environ(env_file)
    else:
        values = {**DEFAULTS, **environ}
        sources = {k: ("from the environment" if k in environ else "default") for k in values}

    def src(key: str) -> str:
        return sources.get(key, "default")

    store = _store(values, src)
    client_timeout = _limit(values, src, "MAX_CLIENT_PROCESSING_MINUTES", unit="minutes", unit_seconds=60)
    job_timeout = _limit(values, src, "MAX_JOB_PROCESSING_HOURS", unit="hours", unit_seconds=3600)
    heartbeat = _limit(values, src, "HEARTBEAT_INTERVAL_MINUTES", unit="minutes", unit_seconds=60)
    grace = _limit(values, src, "FNF_KILL_GRACE_SECONDS", unit="seconds", unit_seconds=1, allow_zero=True)
    log_cap = int(_setting(values, src, "FNF_CHILD_LOG_MAX_BYTES", unit="bytes", integer=True))
    busy = _setting(values, src, "FNF_DB_BUSY_SECONDS", unit="seconds")
    if overrides.client_timeout is not None:
        client_timeout = parse_limit(overrides.client_timeout, name="--client-timeout", unit="minutes", unit_seconds=60)
    if overrides.job_timeout is not None:
        job_timeout = parse_limit(overrides.job_timeout, name="--job-timeout", unit="hours", unit_seconds=3600)
    if overrides.kill_grace is not None:
        grace = parse_limit(overrides.kill_grace, name="--grace", unit="seconds", unit_seconds=1, allow_zero=True)
    db = overrides.db if overrides.db is not None else values["FNF_DB"]
    if not db.strip():
        raise ConfigError(f"FNF_DB is empty ({src('FNF_DB')}): set it to a file path such as ./fnf.db")
    airtable = _airtable(values, src) if store == "airtable" else None
    quarantine_after = int(
        _setting(values, src, "FNF_QUARANTINE_AFTER", unit="timeouts in a row", allow_zero=True, integer=True)
    )
    concurrency = _concurrency(overrides.concurrency, values["FNF_CONCURRENCY"], src("FNF_CONCURRENCY"))
    return Settings(
        store=store,
        db_path=Path(db).expanduser(),
        client_timeout=client_timeout,
        job_timeout=job_timeout,
        heartbeat_interval=heartbeat,
        kill_grace=grace,
        child_log_max_bytes=log_cap,
        handlers=_handler_specs(values, src),
        environ={k: v for k, v in values.items() if src(k) != "default"},
        airtable=airtable,
        alerts=_alerts(values, src),
        quarantine_after=quarantine_after,
        concurrency=concurrency,
        db_busy_seconds=busy,
        **_reporting(values),
        **_failure_policy(values, src),
    )


def _reporting(values: Mapping[str, str]) -> dict[str, Any]:
    """Prometheus (FNF_PUSHGATEWAY_URL, FNF_METRICS_FILE) and Sentry (SENTRY_DSN, SENTRY_CRON_SCHEDULE)."""

    def get(name: str) -> str | None:
        return values.get(name, "").strip() or None

    return {
        "metrics": MetricsSettings(get("FNF_PUSHGATEWAY_URL"), get("FNF_METRICS_FILE")),
        "sentry": SentrySettings(get("SENTRY_DSN"), get("SENTRY_CRON_SCHEDULE")),
    }


def _failure_policy(values: Mapping[str, str], src: Callable[[str], str]) -> dict[str, Any]:
    """FNF_RETRY_ATTEMPTS, FNF_RETRY_BACKOFF_SECONDS, FNF_CIRCUIT_BREAKER_FAILURES, FNF_WRITE_BATCH."""
    return {
        "retry_attempts": int(
            _setting(values, src, "FNF_RETRY_ATTEMPTS", unit="retries", allow_zero=True, integer=True)
        ),
        "retry_backoff": _setting(values, src, "FNF_RETRY_BACKOFF_SECONDS", unit="seconds", allow_zero=True),
        "circuit_breaker_failures": int(
            _setting(
                values,
                src,
                "FNF_CIRCUIT_BREAKER_FAILURES",
                unit="failed clients in a row",
                allow_zero=True,
                integer=True,
            )
        ),
        "write_batch": int(_setting(values, src, "FNF_WRITE_BATCH", unit="clients per write", integer=True)),
    }


def _concurrency(flag: str | None, value: str, source: str) -> int:
    name, raw = ("--concurrency", flag) if flag is not None else ("FNF_CONCURRENCY", value)
    shown = f"{name} {raw!r}" if flag is not None else f"{name}={raw!r} ({source})"
    try:
        number = int(raw.strip())
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_CONCURRENCY:
        raise ConfigError(
            f"{shown} is not valid: use a whole number of clients at once from 1 to {MAX_CONCURRENCY}, "
            "such as 1 (one after another) or 4; for more, split the clients into more streams"
        )
    return number


def _handler_specs(values: Mapping[str, str], src: Callable[[str], str]) -> dict[JobType, HandlerSpec]:
    specs: dict[JobType, HandlerSpec] = {}
    for job_type in JobType:
        suffix = job_type.value.upper()
        python_key, command_key = f"FNF_HANDLER_{suffix}", f"FNF_COMMAND_{suffix}"
        python_value = values.get(python_key, "").strip()
        command_value = values.get(command_key, "").strip()
        if python_value and command_value:
            raise ConfigError(
                f"both {python_key} ({src(python_key)}) and {command_key} ({src(command_key)}) "
                f"are set for {job_type.value}: "
                "keep one of them (a Python callable or an external command)"
            )
        if python_value:
            specs[job_type] = HandlerSpec(job_type, "python", python_value, python_key)
        elif command_value:
            specs[job_type] = HandlerSpec(job_type, "command", command_value, command_key)
    return specs


def _store(values: Mapping[str, str], src: Callable[[str], str]) -> str:
    store = values["FNF_STORE"].strip().lower()
    if store not in STORES:
        raise ConfigError(
            f"FNF_STORE={values['FNF_STORE']!r} ({src('FNF_STORE')}) is not a store fnf knows: "
            f"use one of {', '.join(STORES)}"
        )
    return store
