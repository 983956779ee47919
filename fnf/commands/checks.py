"""Checks an operator or a monitor runs: doctor, health, the Airtable schema, test alerts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fnf.clock import Clock, SystemClock
from fnf.commands.opening import airtable_store, store_for
from fnf.config import Settings, load_settings
from fnf.config.values import unknown_settings
from fnf.errors import FnfError
from fnf.models import JobType, Lease, Outcome, human_duration
from fnf.run import lease as leases

if TYPE_CHECKING:
    from fnf.store.airtable.schema import Problem


@dataclass(frozen=True)
class Check:
    name: str
    state: str  # "ok", "warn" or "fail"
    detail: str


def doctor(load: Callable[[], Settings] = load_settings) -> list[Check]:
    """Every check, one per line; never raises."""
    try:
        settings = load()
    except FnfError as exc:
        return [Check("config", "fail", str(exc))]
    checks = [
        Check(
            "config",
            "ok",
            f"store {settings.store}, client limit {settings.client_timeout:g} s, job limit {settings.job_timeout:g} s",
        )
    ]
    checks.extend(Check("settings", "warn", warning) for warning in unknown_settings())
    checks.extend(_store_checks(settings))
    checks.extend(_handler_checks(settings))
    checks.append(_alert_check(settings))
    checks.extend(_reporting_checks(settings))
    return checks


def _reporting_checks(settings: Settings) -> list[Check]:
    """Prometheus and Sentry, when configured: their library must be installed."""
    from fnf import metrics, sentry_crons

    found = []
    if settings.metrics.enabled:
        found.append(_required("metrics", metrics.require_client, settings.metrics))
    if settings.sentry.dsn:
        found.append(_required("sentry", sentry_crons.require_sdk, settings.sentry))
    return found


def _required(name: str, require: Callable[[Any], None], config: object) -> Check:
    try:
        require(config)
    except FnfError as exc:
        return Check(name, "fail", str(exc))
    return Check(name, "ok", "configured")


def _store_checks(settings: Settings) -> list[Check]:
    where = (
        f"Airtable base {settings.airtable.base_id}" if settings.airtable is not None else f"SQLite {settings.db_path}"
    )
    try:
        with store_for(settings, verify=False, readonly=True) as store:
            try:
                count = len(store.list_clients())
            except FnfError as exc:
                return [Check("store", "fail", f"{where}: {exc}")]
            problems = store.layout_problems()
    except FnfError as exc:
        return [Check("store", "fail", str(exc))]
    checks = [Check("store", "ok", f"{where}: reachable, {count} client(s)")]
    if problems:
        more = f" (and {len(problems) - 1} more; see fnf schema check)" if len(problems) > 1 else ""
        checks.append(Check("schema", "fail", problems[0] + more))
    else:
        checks.append(Check("schema", "ok", "complete"))
    return checks


def _handler_checks(settings: Settings) -> list[Check]:
    from fnf.handlers import resolve

    checks = []
    for job_type in JobType:
        spec = settings.handlers.get(job_type)
        if spec is None:
            suffix = job_type.value.upper()
            checks.append(
                Check(
                    f"handler {job_type.value}",
                    "warn",
                    f"not configured: set FNF_HANDLER_{suffix} or FNF_COMMAND_{suffix} before running this type",
                )
            )
            continue
        try:
            resolve(spec, settings.environ)
        except FnfError as exc:
            checks.append(Check(f"handler {job_type.value}", "fail", str(exc)))
        else:
            checks.append(Check(f"handler {job_type.value}", "ok", f"{spec.source}={spec.value}"))
    return checks


def _alert_check(settings: Settings) -> Check:
    names = list(settings.alerts.channel_names)
    if settings.alerts.ping_url:
        names.append("ping")
    if not names:
        return Check("alerts", "warn", "no channel configured: timeouts and failures show only in fnf status")
    return Check("alerts", "ok", ", ".join(names) + " (fnf alerts test sends a test message)")


def health(settings: Settings, *, max_age: float, window: float, clock: Clock | None = None) -> tuple[int, list[str]]:
    """(pairs checked, problems): every (type, stream) that ran within ``window`` must have finished a
    sweep within ``max_age``, and no run may be stale."""
    now = (clock or SystemClock()).now()
    problems: list[str] = []
    with store_for(settings, readonly=True) as store:
        runs = store.runs(limit=1000)
        held: list[Lease] = store.leases()
        unusable = store.unusable()
        now = store.now(now)
    for lease in held:
        if leases.is_dead(lease, now):
            problems.append(
                f"{lease.job_type.value} stream {lease.stream}: run {lease.holder.run_id} is stale "
                f"({leases.describe(lease, now)}); the next run takes over, or use fnf reset"
            )
    recent = {(r.run_type, r.stream) for r in runs if (now - r.started_at) <= timedelta(seconds=window)}
    if not recent:
        problems.append(
            f"nothing to check: no run started within the last {human_duration(window)} (--window); "
            "is the scheduler running? fnf history shows earlier runs"
        )
    for run_type, stream in sorted(recent):
        mine = [r for r in runs if (r.run_type, r.stream) == (run_type, stream)]
        latest = max(mine, key=lambda r: r.started_at)
        if latest.outcome is Outcome.NO_CLIENTS:
            problems.append(f"{run_type} stream {stream}: {latest.message or 'the stream has no clients'}")
            continue
        settled = [r for r in mine if r.outcome not in (None, Outcome.BUSY)]
        if settled and max(settled, key=lambda r: r.started_at).outcome is Outcome.CIRCUIT_OPEN:
            problems.append(f"{run_type} stream {stream}: {max(settled, key=lambda r: r.started_at).message}")
        finished = [r for r in mine if r.outcome is Outcome.COMPLETED]
        last = max((r.ended_at or r.started_at for r in finished), default=None)
        if last is None:
            problems.append(f"{run_type} stream {stream}: has run recently but never finished a sweep")
        elif (now - last).total_seconds() > max_age:
            age = (now - last).total_seconds()
            problems.append(
                f"{run_type} stream {stream}: last finished sweep {human_duration(age)} ago "
                f"(limit {human_duration(max_age)})"
            )
    problems.extend(f"not processed by any run: {item}" for item in unusable)
    return len(recent), problems


def schema_check(settings: Settings) -> list[Problem]:
    """What the Airtable base lacks or has wrong; empty when it is ready for fnf."""
    with airtable_store(settings) as store:
        return store.schema_problems()


def schema_apply(settings: Settings) -> list[str]:
    """Create what the Airtable base lacks; one line per change (none the second time)."""
    with airtable_store(settings) as store:
        return store.apply_schema()


def send_test_alerts(settings: Settings) -> list[Any]:
    """Send a test message on every configured channel and ping; one Delivery per channel."""
    from fnf.alerts import Alert, AlertKind, Dispatcher, alert_message, channels_for, monitor_for
    from fnf.alerts.base import Delivery

    config = settings.alerts
    now = SystemClock().now()
    alert = Alert(
        AlertKind.TEST,
        "test",
        0,
        "test",
        "fnf alerts test",
        now,
        detail="This is a test message from fnf alerts test: this channel works.",
        next_step="nothing to do",
    )
    results: list[Any] = Dispatcher(channels_for(config), budget=config.timeout).send(alert_message(alert))
    if config.ping_url:
        monitor = monitor_for(config.ping_url, config.ping_kind, timeout=config.timeout)
        ok = monitor.ended("test", 0, "fnf-alerts-test", 0, "fnf alerts test: this monitor works", "")
        results.append(Delivery("ping", ok, None if ok else "no 2xx answer"))
    return results
