"""The core operations, each one call: what the CLI (and anything embedding fnf) invokes.

Each function validates its input before it opens the store, so a usage error never changes
anything.
"""

from __future__ import annotations

import heapq
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from fnf import csvfile
from fnf import status as status_doc
from fnf.clock import Clock, SystemClock, iso
from fnf.config import Settings
from fnf.errors import StoppedBeforeStartError, StoreError, UsageError
from fnf.handlers import Handler, resolve_all
from fnf.models import MAX_STREAM, RUN_TYPES, Client, JobType, StateUpdate, job_types_of
from fnf.proc.executor import ProcessExecutor
from fnf.proc.signals import SignalGuard, StopFlag
from fnf.run.observers import Observers, RunObserver
from fnf.run.request import RunReport, RunRequest
from fnf.run.runner import Runner
from fnf.run.sweep import Task
from fnf.store import Store, open_store
from fnf.store.base import ImportReport

if TYPE_CHECKING:
    from fnf.store.airtable import AirtableStore
    from fnf.store.airtable.schema import Problem


def check_run_type(value: str, *, flag: str = "--type") -> str:
    if value not in RUN_TYPES:
        raise UsageError(f"{flag} {value!r} is not a job type: use one of {', '.join(RUN_TYPES)}")
    return value


def check_stream(value: str | int, *, flag: str = "--stream") -> int:
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]{1,9}", text) or not 1 <= int(text) <= MAX_STREAM:
        raise UsageError(f"{flag} {value!r} is not a stream: streams are numbered 1, 2, 3 ... up to {MAX_STREAM}")
    return int(text)


@contextmanager
def store_for(
    settings: Settings,
    *,
    create: bool = False,
    verify: bool = True,
    stop: StopFlag | None = None,
    readonly: bool = False,
) -> Iterator[Store]:
    store = open_store(settings, create=create, verify=verify, stop=stop, readonly=readonly)
    try:
        yield store
    finally:
        store.close()


def run(
    settings: Settings, request: RunRequest, *, clock: Clock | None = None, progress: RunObserver | None = None
) -> RunReport:
    """Run (type, stream) to completion, deadline or signal, with real watched processes."""
    handlers = resolve_all(job_types_of(request.run_type), settings.handlers, settings.environ)
    stop = StopFlag()
    with SignalGuard(stop), _stopped_before_start(stop):  # a signal while opening the store is a stop too
        return _run(settings, request, handlers, stop, clock, progress)


@contextmanager
def _stopped_before_start(stop: StopFlag) -> Iterator[None]:
    try:
        yield
    except StoreError as exc:
        if not stop.requested:
            raise
        raise StoppedBeforeStartError(
            f"stopped by {stop.reason} before the run started ({exc}); nothing was changed", stop.signum
        ) from exc


def _run(
    settings: Settings,
    request: RunRequest,
    handlers: Mapping[JobType, Handler],
    stop: StopFlag,
    clock: Clock | None,
    progress: RunObserver | None,
) -> RunReport:
    with (
        store_for(settings, stop=stop) as store,
        tempfile.TemporaryDirectory(prefix="fnf-") as workdir,
    ):
        executor = ProcessExecutor(Path(workdir), dict(settings.environ), stop, log_cap=settings.child_log_max_bytes)
        from fnf.alerts import alerter_for

        clock = clock or SystemClock()
        observer: RunObserver = alerter_for(settings, clock)
        if progress is not None:
            observer = Observers(observer, progress)
        runner = Runner(store, settings, handlers, executor, clock, stop, observer)
        return runner.run(request)


def plan(settings: Settings, request: RunRequest) -> list[Task]:
    """The clients a run would process now, in order (``--dry-run``); changes nothing."""
    resolve_all(job_types_of(request.run_type), settings.handlers, settings.environ)
    with store_for(settings, readonly=True) as store:
        runner = Runner(store, settings, {}, _NoExecutor(), SystemClock(), StopFlag())
        return runner.plan(request)


class _NoExecutor:
    def start(self, work: Any) -> Any:
        raise AssertionError("a plan never starts work")

    def wait_any(self, children: Any, timeout: float) -> None:
        raise AssertionError("a plan never waits for work")


def status_parts(
    settings: Settings, *, run_type: str | None = None, stream: int | None = None
) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The status document without its clients, and the client entries one at a time: the store
    is read (and closed) here, the entries are made from memory as they are consumed."""
    job_types = job_types_of(run_type) if run_type else tuple(JobType)
    with store_for(settings, readonly=True) as store:
        return status_doc.build_lazily(store, store.now(SystemClock().now()), job_types=job_types, stream=stream)


def status_json(
    settings: Settings,
    out: TextIO,
    *,
    run_type: str | None = None,
    stream: int | None = None,
    clients: bool = True,
    keep: Callable[[dict[str, Any]], bool] = lambda entry: True,
) -> None:
    """``fnf status --json``, written as it is built: memory stays flat however many clients."""
    document, entries = status_parts(settings, run_type=run_type, stream=stream)
    status_doc.write_json(document, (e for e in entries if keep(e)) if clients else None, out)


def status(
    settings: Settings,
    *,
    run_type: str | None = None,
    stream: int | None = None,
    clients: bool = True,
    lazy: bool = False,
) -> dict[str, Any]:
    """The status document; with ``lazy`` its "clients" is a generator (the tables keep only what
    they show)."""
    document, entries = status_parts(settings, run_type=run_type, stream=stream)
    if not clients:
        return document
    return status_doc.with_clients(document, entries if lazy else list(entries))


def import_clients(settings: Settings, path: Path) -> ImportReport:
    clients = csvfile.read_clients(path)
    with store_for(settings, create=True) as store:
        return store.import_clients(clients)


def list_clients(settings: Settings, stream: int | None = None) -> list[Client]:
    with store_for(settings, readonly=True) as store:
        return store.list_clients(stream)


def remove_clients(settings: Settings, client_ids: list[str]) -> int:
    with store_for(settings) as store:
        _refuse_unknown(store, client_ids, "removed")
        return store.remove_clients(client_ids)


def _refuse_unknown(store: Store, client_ids: list[str], action: str) -> None:
    """Act on all the named clients or on none: a typo must not half-apply a command."""
    known = {c.id for c in store.list_clients()}
    unknown = [cid for cid in client_ids if cid not in known]
    if unknown:
        raise UsageError(
            f"no client has id {', '.join(repr(c) for c in unknown)}; nothing {action} (see: fnf clients list)"
        )


@contextmanager
def _airtable_store(settings: Settings) -> Iterator[AirtableStore]:
    if settings.store != "airtable" or settings.airtable is None:
        raise UsageError(
            f"fnf schema works on the Airtable store, and FNF_STORE is {settings.store!r}: set FNF_STORE=airtable "
            "(with AIRTABLE_API_KEY and AIRTABLE_BASE_ID); the SQLite store keeps its own schema"
        )
    from fnf.store.airtable import AirtableStore

    store = AirtableStore(settings.airtable)
    try:
        yield store
    finally:
        store.close()


def schema_check(settings: Settings) -> list[Problem]:
    """What the Airtable base lacks or has wrong; empty when it is ready for fnf."""
    with _airtable_store(settings) as store:
        return store.schema_problems()


def schema_apply(settings: Settings) -> list[str]:
    """Create what the Airtable base lacks; one line per change (none the second time)."""
    with _airtable_store(settings) as store:
        return store.apply_schema()


def release_clients(settings: Settings, client_ids: list[str], run_type: str | None = None) -> list[str]:
    """Release quarantined clients (all job types, or ``run_type``'s); returns what was released."""
    job_types = job_types_of(run_type) if run_type else tuple(JobType)
    released: list[str] = []
    with store_for(settings) as store:
        _refuse_unknown(store, client_ids, "released")
        updates = []
        for job_type in job_types:
            states = store.job_states(job_type)
            for cid in client_ids:
                state = states.get(cid)
                if state is not None and state.quarantined_at is not None:
                    note = f"released from quarantine by an operator at {iso(SystemClock().now())}"
                    updates.append(
                        StateUpdate(cid, job_type, replace(state, quarantined_at=None, timeouts_in_row=0, message=note))
                    )
                    released.append(f"{cid} ({job_type.value})")
        store.put_states(updates)
    return released


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


def history(
    settings: Settings, *, run_type: str | None = None, stream: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Past runs, newest first, as status-document run entries with their duration."""
    now = SystemClock().now()
    with store_for(settings, readonly=True) as store:
        held = {lease.holder.run_id: lease for lease in store.leases()}
        runs = store.runs(limit=limit, run_type=run_type, stream=stream)
        now = store.now(now)
    entries = []
    for run in runs:
        entry = status_doc.run_entry(run, held, now)
        end = run.ended_at or (now if entry["state"] == "running" else run.heartbeat_at)
        entry["duration_seconds"] = round((end - run.started_at).total_seconds(), 1)
        entries.append(entry)
    return entries


def prune_history(settings: Settings, older_than: str) -> int:
    """Delete the records of runs that ended more than ``older_than`` ago (``30d``, ``12h``)."""
    from datetime import timedelta

    seconds = parse_age(older_than, flag="--older-than")
    with store_for(settings) as store:
        return store.prune_runs(SystemClock().now() - timedelta(seconds=seconds))


def parse_age(text: str, *, flag: str) -> float:
    """``30d``, ``12h``, ``90m`` (days allowed, unlike durations of a run)."""
    from fnf.config import parse_duration

    cleaned = text.strip().lower()
    if cleaned.endswith("d") and cleaned[:-1].replace(".", "", 1).isdigit():
        days = float(cleaned[:-1])
        if days <= 0:
            raise UsageError(f"{flag} {text!r} must be longer than zero: use, for example, 30d or 12h")
        return days * 86400
    try:
        return parse_duration(text, name=flag)
    except UsageError as exc:
        raise UsageError(f"{exc}; days are written like 30d") from None


def stream_loads(settings: Settings) -> list[Any]:
    """Clients and measured work per stream now (unassigned clients under ``None``)."""
    from fnf import streams

    with store_for(settings, readonly=True) as store:
        clients = store.list_clients()
        work = streams.measured_work({t: store.job_states(t) for t in JobType})
    return streams.loads(clients, work, {c.id: c.stream for c in clients})


def assign_streams(settings: Settings, count: int, *, balance: bool, write: bool) -> tuple[list[Any], int]:
    """(loads after assignment, clients that change stream); writes only when ``write``."""
    from fnf import streams

    if count < 1:
        raise UsageError(f"--streams {count} is not a number of streams: use 1 or more")
    with store_for(settings) as store:
        clients = store.list_clients()
        work = streams.measured_work({t: store.job_states(t) for t in JobType})
        plan = streams.balanced(clients, work, count) if balance else streams.round_robin(clients, count)
        moved = [replace(c, stream=plan[c.id]) for c in clients if c.stream != plan[c.id]]
        if write and moved:
            store.import_clients(moved)
    return streams.loads(clients, work, dict(plan)), len(moved)


def predict(settings: Settings, request: RunRequest) -> list[dict[str, Any]]:
    """The next run's clients in order, with start and finish predicted from their recent runs
    (p90), and whether each fits before the job deadline, with ``settings.concurrency`` clients at
    once. Unmeasured clients are predicted at the median of the measured ones and flagged ``estimated``."""
    from datetime import timedelta

    from fnf.models import median

    now = SystemClock().now()
    tasks = plan(settings, request)
    with store_for(settings, readonly=True) as store:
        states = {t: store.job_states(t, request.stream) for t in job_types_of(request.run_type)}
    typical: dict[str, float | None] = {}
    for task in tasks:
        parts = [states[t].get(task.client.id) for t in task.job_types]
        known = [s.typical_seconds() for s in parts if s is not None and s.recent_seconds]
        typical[task.client.id] = sum(k for k in known if k is not None) if known else None
    fallback = median([v for v in typical.values() if v is not None]) or 0.0
    deadline = now + timedelta(seconds=settings.job_timeout)
    free = [now] * settings.concurrency  # when each slot is next free: a client starts on the first
    rows = []
    for task in tasks:
        seconds = typical[task.client.id]
        estimate = seconds if seconds is not None else fallback
        clock = heapq.heappop(free)
        finish = clock + timedelta(seconds=estimate)
        rows.append(
            {
                "id": task.client.id,
                "name": task.client.name,
                "job_types": [t.value for t in task.job_types],
                "resumed": task.resumed,
                "typical_seconds": None if seconds is None else round(seconds, 3),
                "estimated": seconds is None,
                "start": iso(clock),
                "finish": iso(finish),
                "fits": finish <= deadline,
            }
        )
        heapq.heappush(free, finish)
    return rows


def check_handlers(settings: Settings, run_type: str) -> None:
    """Resolve the run type's handlers now: a usage error before anything starts in the background."""
    resolve_all(job_types_of(run_type), settings.handlers, settings.environ)
