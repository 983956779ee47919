"""Settings: defaults < .env < environment < command-line flags, validated before anything runs.

The environment variable names are the ones operators already have in their Render dashboards
and crontabs; they are part of the interface and never renamed.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from fnf.errors import ConfigError
from fnf.models import JobType

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
}

MAX_CONCURRENCY = 64
"""More clients at once than this on one runner is a typo, not a plan: use more streams."""

SECRET_SETTINGS = frozenset(
    {"AIRTABLE_API_KEY", "SENDGRID_API_KEY", "SMTP_URL", "SLACK_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET", "FNF_PING_URL"}
)
"""Values that never appear in a log, an error message or --json output."""

SIGNAL_GRACE_CAP_SECONDS = 15.0
"""On SIGTERM the grace is capped so fnf exits well inside Render's 30 s before SIGKILL."""


@dataclass(frozen=True)
class HandlerSpec:
    """How a job type is configured: a ``module:function`` or a command line template."""

    job_type: JobType
    kind: str  # "python" or "command"
    value: str
    source: str
    """The variable it came from, named in every error about it."""


@dataclass(frozen=True)
class AirtableSettings:
    """Where the Airtable store lives and how politely to talk to it."""

    api_key: str = field(repr=False)
    base_id: str
    clients_table: str
    runs_table: str
    sweeps_table: str
    endpoint_url: str
    field_names: Mapping[str, str]
    """AIRTABLE_FIELD_<KEY> renames: KEY -> the base's name for that field."""
    requests_per_second: float
    rate_limit_wait: float
    """How long a 429 is waited out: Airtable refuses every request for 30 s after a breach."""
    retry_budget: float
    """How long one operation keeps retrying 5xx and connection errors before the run stops."""
    timeout: float
    slot: tuple[int, int] | None = None
    """AIRTABLE_SLOT=i/n: this run's quarter-second slot in a cycle of n (runs sharing a base)."""
    interactive: bool = False
    """A command someone is waiting for: short retries, one line when Airtable stays away."""

    def for_people(self) -> AirtableSettings:
        """These settings for an interactive command: give up within about 15 s, not minutes."""
        return replace(
            self,
            interactive=True,
            retry_budget=min(self.retry_budget, INTERACTIVE_RETRY_SECONDS),
            timeout=min(self.timeout, INTERACTIVE_TIMEOUT_SECONDS),
        )


INTERACTIVE_RETRY_SECONDS = 10.0
INTERACTIVE_TIMEOUT_SECONDS = 4.0


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go. URLs and keys are secrets: kept out of repr, logs and messages."""

    recipients: tuple[str, ...] = ()
    sender: str = ""
    sendgrid_key: str | None = field(default=None, repr=False)
    sendgrid_url: str = "https://api.sendgrid.com/v3/mail/send"
    smtp_url: str | None = field(default=None, repr=False)
    slack_url: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    ping_url: str | None = field(default=None, repr=False)
    ping_kind: str = "auto"
    """How to speak to the monitor at ping_url: healthchecks, cronitor, or auto (by its host)."""
    quiet_period: float = 6 * 3600.0
    """A client alerted for the same thing within this many seconds is not alerted again."""
    timeout: float = 5.0
    """The most one alert may delay a run, all channels together."""

    @property
    def channel_names(self) -> tuple[str, ...]:
        names = []
        if self.sendgrid_key:
            names.append("sendgrid")
        if self.smtp_url:
            names.append("smtp")
        if self.slack_url:
            names.append("slack")
        if self.webhook_url:
            names.append("webhook")
        return tuple(names)


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


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, *, name: str) -> float:
    """Parse ``90s``, ``10m``, ``2h``, ``1h30m`` or ``0.5s`` into seconds (> 0)."""
    cleaned = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        hint = " (add a unit)" if _is_number(cleaned) else ""
        raise ConfigError(
            f"{name} {text!r} is not a duration{hint}: use a number with a unit, such as 90s, 10m, 2h or 1h30m"
        )
    if total <= 0:
        raise ConfigError(f"{name} {text!r} must be longer than zero: use, for example, 90s, 10m or 2h")
    return total


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


def load_environ(env_file: str | os.PathLike[str] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """Return (merged values, source of each) from defaults, the .env file and the environment."""
    from dotenv import dotenv_values

    path = Path(env_file if env_file is not None else os.environ.get("FNF_ENV_FILE", ".env"))
    merged: dict[str, str] = dict(DEFAULTS)
    sources = {key: "default" for key in DEFAULTS}
    if path.is_file():
        for key, value in dotenv_values(path).items():
            if value is not None:
                merged[key] = value
                sources[key] = f"from {path}"
    for key, value in os.environ.items():
        merged[key] = value
        sources[key] = "from the environment"
    return merged, sources


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

    store = values["FNF_STORE"].strip().lower()
    if store not in STORES:
        raise ConfigError(
            f"FNF_STORE={values['FNF_STORE']!r} ({src('FNF_STORE')}) is not a store fnf knows: "
            f"use one of {', '.join(STORES)}"
        )
    client_timeout = 60 * _setting(values, src, "MAX_CLIENT_PROCESSING_MINUTES", unit="minutes")
    job_timeout = 3600 * _setting(values, src, "MAX_JOB_PROCESSING_HOURS", unit="hours")
    heartbeat = 60 * _setting(values, src, "HEARTBEAT_INTERVAL_MINUTES", unit="minutes")
    grace = _setting(values, src, "FNF_KILL_GRACE_SECONDS", unit="seconds", allow_zero=True)
    log_cap = int(_setting(values, src, "FNF_CHILD_LOG_MAX_BYTES", unit="bytes", integer=True))
    busy = _setting(values, src, "FNF_DB_BUSY_SECONDS", unit="seconds")
    if overrides.client_timeout is not None:
        client_timeout = parse_duration(overrides.client_timeout, name="--client-timeout")
    if overrides.job_timeout is not None:
        job_timeout = parse_duration(overrides.job_timeout, name="--job-timeout")
    if overrides.kill_grace is not None:
        grace = parse_duration(overrides.kill_grace, name="--grace")
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
    )


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


def _alerts(values: Mapping[str, str], src: Callable[[str], str]) -> AlertSettings:
    def get(key: str) -> str | None:
        value = values.get(key, "").strip()
        return value or None

    recipients = tuple(r.strip() for r in (get("ALERT_EMAIL") or "").split(",") if r.strip())
    for address in recipients:
        if "@" not in address:
            raise ConfigError(
                f"ALERT_EMAIL ({src('ALERT_EMAIL')}) has {address!r}, which is not an email address: "
                "use one address or several separated by commas"
            )
    sendgrid, smtp = get("SENDGRID_API_KEY"), get("SMTP_URL")
    if (sendgrid or smtp) and not recipients:
        key = "SENDGRID_API_KEY" if sendgrid else "SMTP_URL"
        raise ConfigError(f"{key} is set but ALERT_EMAIL is not: set ALERT_EMAIL to the address(es) to alert")
    if recipients and not (sendgrid or smtp):
        raise ConfigError(
            "ALERT_EMAIL is set but no way to send email is: set SENDGRID_API_KEY, or SMTP_URL "
            "(smtp://user:pass@host:587 or smtps://user:pass@host:465)"
        )
    if smtp:
        _url("SMTP_URL", smtp, src, ("smtp", "smtps"), "smtp://user:pass@mail.example.com:587")
    slack, webhook, ping = get("SLACK_WEBHOOK_URL"), get("ALERT_WEBHOOK_URL"), get("FNF_PING_URL")
    if slack:
        _url("SLACK_WEBHOOK_URL", slack, src, ("https", "http"), "https://hooks.slack.com/services/...")
    if webhook:
        _url("ALERT_WEBHOOK_URL", webhook, src, ("https", "http"), "https://ops.example.com/fnf-alerts")
    if ping:
        _url("FNF_PING_URL", ping, src, ("https", "http"), "https://hc-ping.com/<uuid> or .../{type}-{stream}")
    kind = (get("FNF_PING_KIND") or "auto").lower()
    if kind not in ("auto", "healthchecks", "cronitor"):
        raise ConfigError(
            f"FNF_PING_KIND={kind!r} ({src('FNF_PING_KIND')}) is not a monitor fnf speaks to: use healthchecks, "
            "cronitor, or leave it unset to tell by FNF_PING_URL's host"
        )
    secret = get("ALERT_WEBHOOK_SECRET")
    if secret and not webhook:
        raise ConfigError("ALERT_WEBHOOK_SECRET is set but ALERT_WEBHOOK_URL is not: set the URL it signs for")
    sendgrid_url = _url("SENDGRID_API_URL", values["SENDGRID_API_URL"].strip(), src, ("https", "http"), "the default")
    quiet = 60 * _setting(values, src, "FNF_ALERT_QUIET_MINUTES", unit="minutes", allow_zero=True)
    timeout = _setting(values, src, "FNF_ALERT_TIMEOUT_SECONDS", unit="seconds")
    return AlertSettings(
        recipients=recipients,
        sender=get("ALERT_FROM") or "fnf@localhost",
        sendgrid_key=sendgrid,
        sendgrid_url=sendgrid_url,
        smtp_url=smtp,
        slack_url=slack,
        webhook_url=webhook,
        webhook_secret=secret,
        ping_url=ping,
        ping_kind=kind,
        quiet_period=quiet,
        timeout=timeout,
    )


def _airtable(values: Mapping[str, str], src: Callable[[str], str]) -> AirtableSettings:
    from fnf.store.airtable_schema import FIELD_KEYS

    def required(key: str, example: str) -> str:
        value = values.get(key, "").strip()
        if not value:
            raise ConfigError(
                f"FNF_STORE=airtable needs {key}: set it in the environment or .env (for example {example})"
            )
        return value

    api_key = required("AIRTABLE_API_KEY", "a personal access token, patXXXX.XXXX")
    base_id = required("AIRTABLE_BASE_ID", "appXXXXXXXXXXXXXX")
    if not re.fullmatch(r"app[A-Za-z0-9]{14}", base_id):
        raise ConfigError(
            f"AIRTABLE_BASE_ID={base_id!r} ({src('AIRTABLE_BASE_ID')}) is not a base id: base ids are 'app' and "
            "14 letters or digits, as in the base's URL https://airtable.com/appXXXXXXXXXXXXXX/..."
        )
    endpoint = values["AIRTABLE_ENDPOINT_URL"].strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", endpoint):
        raise ConfigError(
            f"AIRTABLE_ENDPOINT_URL={endpoint!r} ({src('AIRTABLE_ENDPOINT_URL')}) is not an http(s) URL: "
            "leave it unset for Airtable itself, or use a URL such as http://127.0.0.1:8765"
        )
    renames: dict[str, str] = {}
    for key, value in values.items():
        if not key.startswith("AIRTABLE_FIELD_"):
            continue
        name = key.removeprefix("AIRTABLE_FIELD_")
        if name not in FIELD_KEYS:
            close = ", ".join(difflib.get_close_matches(name, sorted(FIELD_KEYS), n=4, cutoff=0.6))
            raise ConfigError(
                f"{key} ({src(key)}) does not name a field fnf uses"
                + (f"; similar: {close}" if close else "")
                + "; see fnf schema check for every field and its variable"
            )
        if not value.strip() or "}" in value:
            raise ConfigError(
                f"{key}={value!r} ({src(key)}) is not a usable field name: it must be non-empty and "
                "must not contain '}' (Airtable formulas cannot reference such a name)"
            )
        renames[name] = value.strip()
    tables = {}
    for key in ("AIRTABLE_CLIENTS_TABLE", "AIRTABLE_RUNS_TABLE", "AIRTABLE_SWEEPS_TABLE"):
        tables[key] = values[key].strip()
        if not tables[key]:
            raise ConfigError(f"{key} is empty ({src(key)}): set it to the table's name, or unset it for the default")
    if len(set(tables.values())) != 3:
        raise ConfigError(
            "AIRTABLE_CLIENTS_TABLE, AIRTABLE_RUNS_TABLE and AIRTABLE_SWEEPS_TABLE must name three different "
            f"tables (they are {', '.join(repr(v) for v in tables.values())})"
        )

    def positive(key: str, unit: str, allow_zero: bool = False) -> float:
        return _number(key, values[key], src(key), unit=unit, allow_zero=allow_zero)

    return AirtableSettings(
        api_key=api_key,
        base_id=base_id,
        clients_table=tables["AIRTABLE_CLIENTS_TABLE"],
        runs_table=tables["AIRTABLE_RUNS_TABLE"],
        sweeps_table=tables["AIRTABLE_SWEEPS_TABLE"],
        endpoint_url=endpoint,
        field_names=renames,
        requests_per_second=positive("AIRTABLE_REQUESTS_PER_SECOND", "requests"),
        rate_limit_wait=positive("AIRTABLE_RATE_LIMIT_WAIT_SECONDS", "seconds", allow_zero=True),
        retry_budget=positive("AIRTABLE_RETRY_BUDGET_SECONDS", "seconds"),
        timeout=positive("AIRTABLE_TIMEOUT_SECONDS", "seconds"),
        slot=_slot(values.get("AIRTABLE_SLOT", ""), src),
    )


MAX_SLOTS = 240
"""A cycle of at most a minute of quarter-second slots."""


def _slot(text: str, src: Callable[[str], str]) -> tuple[int, int] | None:
    """``AIRTABLE_SLOT=3/9``: the third of nine runs that may share the base at once."""
    if not text.strip():
        return None
    match = re.fullmatch(r"\s*([0-9]{1,3})\s*/\s*([0-9]{1,3})\s*", text)
    if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)) <= MAX_SLOTS:
        raise ConfigError(
            f"AIRTABLE_SLOT={text!r} ({src('AIRTABLE_SLOT')}) is not a slot: write i/n, this run's place i among "
            f"the n runs that share the base (1 <= i <= n <= {MAX_SLOTS}), as fnf deploy does, for example 3/9"
        )
    return int(match.group(1)), int(match.group(2))


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
