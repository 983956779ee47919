"""Operator commands that inspect or repair: reset, doctor, health.

Each validates first and returns plain data (lines, checks, problems) for the CLI to print.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fnf import host
from fnf.clock import Clock, SystemClock, iso
from fnf.config import Settings, load_settings
from fnf.errors import FnfError, UsageError
from fnf.models import Holder, JobType, Lease, Outcome, StateUpdate, Status, human_duration, job_types_of
from fnf.run import lease as leases
from fnf.store import open_store
from fnf.store.base import RunFinish, Store


# -- reset ----------------------------------------------------------------------------------------
def reset(
    settings: Settings,
    run_type: str,
    stream: int,
    client_ids: Sequence[str] = (),
    *,
    force: bool = False,
    clock: Clock | None = None,
) -> list[str]:
    """Release the (type, stream) lease of a dead run and mark its stuck clients as cut short.

    Refuses while the holder is alive unless ``force``. Returns one line per change.
    """
    now = (clock or SystemClock()).now()
    job_types = job_types_of(run_type)
    done: list[str] = []
    store = open_store(settings)
    try:
        held = [lease for lease in store.leases() if lease.job_type in job_types and lease.stream == stream]
        now = store.now(now)
        alive = [lease for lease in held if not leases.is_dead(lease, now)]
        if alive and not force:
            who = leases.describe(alive[0], now)
            raise UsageError(
                f"{alive[0].job_type.value} stream {stream} is held by {who}, which looks alive: wait for it, "
                "stop it (SIGTERM), or use --force to stop it and release the stream"
            )
        for holder in {lease.holder.run_id: lease.holder for lease in alive}.values():
            done.append(_stop_holder(holder, settings))
        if alive:
            held = [lease for lease in store.leases() if lease.job_type in job_types and lease.stream == stream]
        for run_id in dict.fromkeys(lease.holder.run_id for lease in held):
            done.append(_release(store, run_id, stream, now))
        live_runs = {lease.holder.run_id for lease in store.leases() if not leases.is_dead(lease, now)}
        done.extend(_unstick(store, job_types, stream, client_ids, live_runs, force, now))
    finally:
        store.close()
    return done


STOP_WAIT_SECONDS = 30.0
"""How long a forced reset waits for a holder it sent SIGTERM to before it sends SIGKILL."""


def _stop_holder(holder: Holder, settings: Settings) -> str:
    """Stop a live holder before its stream is released, so no client runs twice at once.

    On this host the holder is proven to be the same process, sent SIGTERM (it stops its clients
    on their grace, records where it stopped and frees the stream), and SIGKILLed if it has not
    ended in time (its clients' guards then end them). Elsewhere fnf cannot signal it: its lease
    is released and it stops at its next heartbeat, when it finds the lease gone.
    """
    alive = host.holder_alive(holder)
    if alive is None:
        return (
            f"run {holder.run_id} runs on host {holder.host} (pid {holder.pid}), which fnf cannot signal from "
            f"here: its lease is released now; it stops, with its clients, at its next heartbeat (within "
            f"{human_duration(settings.heartbeat_interval)}); stop it there (SIGTERM) to stop it sooner"
        )
    if not alive or not host.kill_holder(holder, signal.SIGTERM):
        return f"run {holder.run_id} (pid {holder.pid}) had already ended"
    if _gone(holder, STOP_WAIT_SECONDS):
        return f"stopped run {holder.run_id} (pid {holder.pid}) with SIGTERM: it recorded where it stopped"
    host.kill_holder(holder)
    _gone(holder, 10.0)
    return (
        f"run {holder.run_id} (pid {holder.pid}) did not stop within {STOP_WAIT_SECONDS:g} s of SIGTERM: "
        "killed it (SIGKILL); its clients were ended with it"
    )


def _gone(holder: Holder, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while host.holder_alive(holder):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _release(store: Store, run_id: str, stream: int, now: datetime) -> str:
    record = next((r for r in store.runs(limit=500, stream=stream) if r.run_id == run_id), None)
    counts = record.counts if record else None
    note = f"released by fnf reset at {iso(now)} (operator)"
    finish = RunFinish(run_id, Outcome.ABANDONED, now, message=note)
    if counts is not None:
        finish = replace(finish, counts=counts, stopped_at=record.stopped_at if record else None)
    store.finish_run(finish)
    return f"released the lease of run {run_id} (recorded as abandoned)"


def _unstick(
    store: Store,
    job_types: Sequence[JobType],
    stream: int,
    client_ids: Sequence[str],
    live_runs: set[str],
    force: bool,
    now: datetime,
) -> list[str]:
    wanted = set(client_ids)
    members = {c.id for c in store.list_clients(stream)}
    unknown = wanted - members
    if unknown:
        raise UsageError(
            f"no client {', '.join(sorted(map(repr, unknown)))} in stream {stream} (see: fnf clients list)"
        )
    updates: list[StateUpdate] = []
    lines = []
    for job_type in job_types:
        for client_id, state in store.job_states(job_type, stream).items():
            if wanted and client_id not in wanted:
                continue
            if not state.status.in_progress:
                continue
            if state.run_id in live_runs and not force:
                raise UsageError(
                    f"client {client_id} is {state.status.value} in live run {state.run_id}: use --force to reset it"
                )
            note = (
                f"reset by an operator at {iso(now)}: was {state.status.value} in run {state.run_id}; "
                "resumed first by the next run"
            )
            updates.append(
                StateUpdate(client_id, job_type, replace(state, status=Status.JOB_TIMEOUT_KILLED, message=note))
            )
            lines.append(f"reset {client_id} ({job_type.value}) from {state.status.value} to JOB_TIMEOUT_KILLED")
    store.put_states(updates)
    return lines


# -- doctor ---------------------------------------------------------------------------------------
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
    checks.extend(_store_checks(settings))
    checks.extend(_handler_checks(settings))
    checks.append(_alert_check(settings))
    return checks


def _store_checks(settings: Settings) -> list[Check]:
    where = (
        f"Airtable base {settings.airtable.base_id}" if settings.airtable is not None else f"SQLite {settings.db_path}"
    )
    try:
        store = open_store(settings, verify=False, readonly=True)
    except FnfError as exc:
        return [Check("store", "fail", str(exc))]
    try:
        try:
            count = len(store.list_clients())
        except FnfError as exc:
            return [Check("store", "fail", f"{where}: {exc}")]
        checks = [Check("store", "ok", f"{where}: reachable, {count} client(s)")]
        problems: list[str] = []
        if hasattr(store, "schema_problems"):
            problems = [str(p) for p in store.schema_problems()]
        elif hasattr(store, "integrity_check"):
            result = store.integrity_check()
            problems = [] if result == "ok" else [f"integrity check: {result}"]
        if problems:
            more = f" (and {len(problems) - 1} more; see fnf schema check)" if len(problems) > 1 else ""
            checks.append(Check("schema", "fail", problems[0] + more))
        else:
            checks.append(Check("schema", "ok", "complete"))
        return checks
    finally:
        store.close()


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


# -- health ---------------------------------------------------------------------------------------
def health(settings: Settings, *, max_age: float, window: float, clock: Clock | None = None) -> tuple[int, list[str]]:
    """(pairs checked, problems): every (type, stream) that ran within ``window`` must have finished a
    sweep within ``max_age``, and no run may be stale."""
    now = (clock or SystemClock()).now()
    problems: list[str] = []
    with closing(open_store(settings, readonly=True)) as store:
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
