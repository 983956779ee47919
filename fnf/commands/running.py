"""Running a (type, stream), and what a run would do: ``fnf run``, ``--dry-run``, ``fnf plan``."""

from __future__ import annotations

import heapq
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fnf import metrics, sentry_crons
from fnf.clock import Clock, SystemClock, iso
from fnf.commands.opening import store_for
from fnf.config import Settings
from fnf.errors import StoppedBeforeStartError, StoreError
from fnf.handlers import Handler, resolve_all
from fnf.models import JobState, JobType, Status, job_types_of
from fnf.proc.executor import ProcessExecutor
from fnf.proc.signals import SignalGuard
from fnf.run.observers import Observers, RunObserver, SilentObserver
from fnf.run.plan import Planner
from fnf.run.request import RunReport, RunRequest
from fnf.run.runner import Runner
from fnf.run.sweep import Task
from fnf.stop import StopFlag
from fnf.store.base import Store
from fnf.store.ondemand import StatesOnDemand


def run(
    settings: Settings, request: RunRequest, *, clock: Clock | None = None, progress: RunObserver | None = None
) -> RunReport:
    """Run (type, stream) to completion, deadline or signal, with real watched processes."""
    handlers = resolve_all(job_types_of(request.run_type), settings.handlers, settings.environ)
    metrics.require_client(settings.metrics)
    sentry_crons.require_sdk(settings.sentry)
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
        ProcessExecutor(Path(workdir), dict(settings.environ), stop, log_cap=settings.child_log_max_bytes) as executor,
    ):
        from fnf.alerts import alerter_for

        clock = clock or SystemClock()
        observer: RunObserver = alerter_for(settings, clock)
        if settings.metrics.enabled:
            observer = Observers(observer, _MetricsStart(settings.metrics, request))
        crons = (
            sentry_crons.SentryCrons(settings.sentry, request.run_type, request.stream) if settings.sentry.dsn else None
        )
        if crons is not None:
            observer = Observers(observer, crons)
        if progress is not None:
            observer = Observers(observer, progress)
        runner = Runner(store, settings, handlers, executor, clock, stop, observer)
        started = time.time()
        report = runner.run(request)
        if settings.metrics.enabled:
            metrics.publish_end(settings.metrics, _run_end(report, started, time.time()))
        if crons is not None:
            crons.finish(report.outcome, time.time() - started)
        return report


class _MetricsStart(SilentObserver):
    """Pushes a run's start once it holds its stream (so that a run that dies still shows)."""

    def __init__(self, settings: metrics.MetricsSettings, request: RunRequest) -> None:
        self.settings, self.request = settings, request

    def sweep_planned(self, total: int) -> None:
        metrics.publish_start(self.settings, self.request.run_type, self.request.stream, time.time(), total)


def _run_end(report: RunReport, started: float, ended: float) -> metrics.RunEnd:
    cut = sum(1 for c in report.clients if c.status is Status.JOB_TIMEOUT_KILLED)
    return metrics.RunEnd(report.run_type, report.stream, report.outcome, started, ended, report.counts, cut)


def plan(settings: Settings, request: RunRequest) -> list[Task]:
    """The clients a run would process now, in order (``--dry-run``); changes nothing."""
    resolve_all(job_types_of(request.run_type), settings.handlers, settings.environ)
    with store_for(settings, readonly=True) as store:
        return Planner(store).plan(request)


def _every_state(store: Store, planner: Planner, job_type: JobType, stream: int) -> Mapping[str, JobState]:
    """Every client's full state: the planner's read where it holds them all (on Airtable, its
    listing: no second one), else one bulk read (a store that reads them one by one on demand
    would take a query per client)."""
    known = planner.known.get(job_type)
    if known is None or isinstance(known, StatesOnDemand):
        return store.job_states(job_type, stream)
    return known


def _typical(task: Task, states: Mapping[JobType, Mapping[str, JobState]]) -> float | None:
    """A client's typical run of all the task's job types (p90 of each), or None if unmeasured."""
    parts = [states.get(t, {}).get(task.client.id) for t in task.job_types]
    known = [s.typical_seconds() for s in parts if s is not None and s.recent_seconds]
    return sum(k for k in known if k is not None) if known else None


def predict(settings: Settings, request: RunRequest) -> list[dict[str, Any]]:
    """The next run's clients in order, with start and finish predicted from their recent runs
    (p90), and whether each fits before the job deadline, with ``settings.concurrency`` clients at
    once. Unmeasured clients are predicted at the median of the measured ones and flagged ``estimated``."""

    from fnf.models import median

    now = SystemClock().now()
    resolve_all(job_types_of(request.run_type), settings.handlers, settings.environ)
    with store_for(settings, readonly=True) as store:
        planner = Planner(store)
        tasks = planner.plan(request)
        states = {t: _every_state(store, planner, t, request.stream) for t in job_types_of(request.run_type)}
        typical = {task.client.id: _typical(task, states) for task in tasks}
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
