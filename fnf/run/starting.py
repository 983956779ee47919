"""Starting clients: record them STARTED (several in one write), then start their work.

The write always comes first: a crash between the two leaves STARTED clients, which the next run
resumes first. With ``FNF_WRITE_BATCH`` = N > 1 the loop claims N clients ahead in one write and
starts them as places free up, so that a batching store (Airtable: 10 records a request) carries N
starts and the N ends pending in one request; a crash then repeats at most N more clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta

from fnf.clock import Clock
from fnf.config import Settings
from fnf.handlers import Handler
from fnf.models import Client, JobState, JobType, StateUpdate, Status, human_duration
from fnf.run.attempt import Attempt, Running, Why, carried
from fnf.run.ledger import Ledger
from fnf.run.observers import RunObserver
from fnf.run.work import ChildResult, ResultKind, Work
from fnf.stop import StopFlag

log = logging.getLogger("fnf.run")

NOT_STARTED = "not started"
"""The message of work recorded STARTED that a stop reached before it was started."""


@dataclass(frozen=True)
class Start:
    """A client's job type to start, and which attempt at it this is."""

    client: Client
    job_type: JobType
    sweep_id: str
    tries: int = 1


@dataclass(frozen=True)
class Claimed:
    """A start recorded in the store, its work not started yet."""

    client: Client
    job_type: JobType
    base: JobState
    tries: int


class NotStarted:
    """The work of a claimed client that the run stopped before starting: it ends at once as
    stopped, so the client is recorded cut short and resumes first next run."""

    def wait(self, timeout: float) -> ChildResult:
        return ChildResult(ResultKind.STOPPED, message=NOT_STARTED)

    def terminate(self) -> None:
        pass

    def kill(self, how: str = "") -> ChildResult:
        return self.wait(0.0)

    def progress(self) -> dict[str, object] | None:
        return None


@dataclass(frozen=True)
class RunIds:
    run_id: str
    stream: int
    job_ids: Mapping[JobType, str]


class Starter:
    """Claims clients (the STARTED write) and starts their work through the executor."""

    def __init__(
        self,
        *,
        settings: Settings,
        ledger: Ledger,
        start: Callable[[Work], Running],
        handlers: Mapping[JobType, Handler],
        clock: Clock,
        stop: StopFlag,
        observer: RunObserver,
        run: RunIds,
        deadline: float,
        known: dict[JobType, MutableMapping[str, JobState]],
    ) -> None:
        self.settings, self._ledger, self._start, self.handlers = settings, ledger, start, handlers
        self.clock, self.stop, self.observer = clock, stop, observer
        self._run, self._deadline, self._known = run, deadline, known
        self.left: list[str] = []
        """Clients refused at their start: no longer this stream's to run."""
        self.live: set[str] = set()
        """Other runs alive when the clients were selected (a client in flight in one is not started)."""

    def claim(self, starts: list[Start], remaining: int) -> list[Claimed | None]:
        """Record the clients STARTED in one write (with the ends pending); None for a client
        that is not this run's to start (in flight elsewhere, removed or moved)."""
        planned = [self._plan(start) for start in starts]
        updates = [
            StateUpdate(c.client.id, c.job_type, c.base, replaces=self._known_state(c))
            for c in planned
            if c is not None
        ]
        refused = self._ledger.save(updates, remaining) if updates else frozenset()
        return [None if c is None or self._refused(c, refused) else c for c in planned]

    def launch(self, claimed: Claimed, in_flight: int) -> Attempt:
        """Start the claimed client's work; its deadline counts from now. A stop that came after
        the claim leaves it unstarted."""
        client, job_type = claimed.client, claimed.job_type
        started_wall, started = self.clock.now(), self.clock.monotonic()
        left, limit = self._deadline - started, self.settings.client_timeout
        binding = Why.JOB if left < limit else Why.CLIENT
        deadline = started + min(limit, left)
        if self.stop.requested:
            return self.unstarted(claimed, Why.SIGNAL)
        self.observer.client_started(client, job_type, deadline - started)
        log.info(
            "%s: %s (%s) started, deadline in %s%s",
            job_type.value,
            client.id,
            client.name,
            human_duration(deadline - started),
            f" ({in_flight + 1} in flight)" if self.settings.concurrency > 1 else "",
        )
        work = Work(
            client=client,
            job_type=job_type,
            job_id=self._run.job_ids[job_type],
            run_id=self._run.run_id,
            stream=self._run.stream,
            deadline=started_wall + timedelta(seconds=deadline - started),
            deadline_monotonic=deadline,
            handler=self.handlers[job_type],
            grace=self.settings.kill_grace,
        )
        running = self._start(work)
        return Attempt(client, job_type, running, claimed.base, started, deadline, binding, tries=claimed.tries)

    def unstarted(self, claimed: Claimed, reason: Why) -> Attempt:
        """An attempt for a claimed client the run will not start (it stopped for ``reason``)."""
        now = self.clock.monotonic()
        attempt = Attempt(claimed.client, claimed.job_type, NotStarted(), claimed.base, now, now, Why.JOB)
        attempt.terminate(reason, 0.0, now)
        return attempt

    def _plan(self, start: Start) -> Claimed | None:
        client, job_type = start.client, start.job_type
        known = self._known.get(job_type, {}).get(client.id)
        if self._elsewhere(client, job_type, known):
            return None  # decided without a write: on any store, a client never runs twice at once
        job_id = self._run.job_ids[job_type]
        base = carried(JobState(Status.STARTED, job_id, self._run.run_id, start.sweep_id, self.clock.now()), known)
        return Claimed(client, job_type, base, start.tries)

    def _known_state(self, claimed: Claimed) -> JobState | None:
        return self._known.get(claimed.job_type, {}).get(claimed.client.id)

    def _refused(self, claimed: Claimed, refused: frozenset[str]) -> bool:
        client = claimed.client
        if client.id not in refused:
            return False
        log.warning(
            "%s: %s (%s) is no longer this stream's to run (removed, moved to another stream, or in flight "
            "in another run); skipped",
            claimed.job_type.value,
            client.id,
            client.name,
        )
        self.left.append(client.id)
        return True

    def _elsewhere(self, client: Client, job_type: JobType, known: JobState | None) -> bool:
        """True (and the client skipped, counted) if it is in flight in another live run."""
        if known is None or not known.status.in_progress or known.run_id not in self.live:
            return False
        log.warning(
            "%s: %s (%s) is in flight in run %s (it came from another stream); skipped",
            job_type.value,
            client.id,
            client.name,
            known.run_id,
        )
        self.left.append(client.id)
        return True
