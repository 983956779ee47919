"""The Store contract.

Everything the runner, ``fnf status`` and the client commands need from a backend, and nothing
about how a backend keeps it. Each write method is atomic: it happens entirely or not at all,
so a runner killed at any instant leaves the store consistent and resumable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fnf.models import (
    Client,
    JobState,
    JobType,
    Lease,
    Outcome,
    RunCounts,
    RunRecord,
    StateUpdate,
    Status,
    Sweep,
)


@dataclass(frozen=True)
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class Acquired:
    """The run holds the leases it asked for; ``taken_over`` lists the dead runs it replaced."""

    taken_over: tuple[Lease, ...] = ()


@dataclass(frozen=True)
class Busy:
    """Another run holds (one of) the leases and is alive."""

    lease: Lease


@dataclass(frozen=True)
class RunProgress:
    """What the run record says so far; written with the client states it follows from."""

    run_id: str
    counts: RunCounts
    stopped_at: str | None = None
    stream: int | None = None
    """The run's stream: a client recorded as STARTED must still be in it (see ``Store.save``)."""


@dataclass(frozen=True)
class Unusable:
    """A record of the clients table that cannot be processed as it stands, and why.

    Never dropped silently: runs, ``fnf status`` and ``fnf health`` name every one.
    """

    record: str
    name: str
    reason: str

    def __str__(self) -> str:
        named = f" ({self.name})" if self.name else ""
        return f"record {self.record}{named}: {self.reason}"


def unassigned(clients: Sequence[Client]) -> list[Unusable]:
    """Clients in no stream: no run processes them until they get one."""
    fix = "no stream; assign one (fnf streams assign, or the stream column)"
    return [Unusable(c.id, c.name, fix) for c in clients if c.stream is None]


LeaseJudge = Callable[[Lease], bool]
"""Returns True when a lease's holder is dead (stale heartbeat or provably gone)."""


def claim(held: Sequence[Lease], is_dead: LeaseJudge) -> Busy | Acquired:
    """The rule every store applies to the leases a claim meets: one live holder makes the stream
    busy; dead holders are taken over (the store records them abandoned, ``taken_over_note``)."""
    for lease in held:
        if not is_dead(lease):
            return Busy(lease)
    return Acquired(tuple(held))


def taken_over_note(taker: str) -> str:
    """The message of a run whose lease another run took over (kept if it already had one)."""
    return f"taken over by run {taker} (heartbeat stopped)"


@dataclass(frozen=True)
class RunFinish:
    run_id: str
    outcome: Outcome
    ended_at: datetime
    counts: RunCounts = field(default_factory=RunCounts)
    stopped_at: str | None = None
    message: str | None = None
    alerts: str | None = None


class Marked(Protocol):
    """What the sweep's selection reads of a client's state (a ``JobState`` has it all)."""

    @property
    def status(self) -> Status: ...

    @property
    def run_id(self) -> str: ...

    @property
    def sweep_id(self) -> str: ...

    @property
    def quarantined_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class RunStates:
    """A stream's states for one job type as a run reads them: ``marks`` to select the sweep's
    clients, ``full`` for the clients it starts (a store may read those one by one, when asked)."""

    marks: Mapping[str, Marked]
    full: MutableMapping[str, JobState]


@dataclass(frozen=True)
class StreamRead:
    """A stream as a run takes it: its clients in sweep order and, per job type, their states."""

    clients: list[Client]
    states: Mapping[JobType, RunStates]


class Store(ABC):
    """What fnf needs from a backend."""

    name: str = "store"

    # -- clients -------------------------------------------------------------------------
    @abstractmethod
    def list_clients(self, stream: int | None = None) -> list[Client]:
        """Clients in the store's stable order (the order sweeps follow); all if stream is None."""

    def unusable(self, stream: int | None = None) -> list[Unusable]:
        """Records that look like clients of ``stream`` (or of any stream) but cannot be processed.

        Stores that validate on import have none; a table operators edit by hand may.
        """
        return []

    @abstractmethod
    def import_clients(self, clients: Sequence[Client]) -> ImportReport:
        """Add new clients at the end of the order; update name, stream and fields of known ones."""

    @abstractmethod
    def remove_clients(self, client_ids: Sequence[str]) -> int:
        """Remove clients and their job states; returns how many existed."""

    # -- job states ----------------------------------------------------------------------
    @abstractmethod
    def job_states(self, job_type: JobType, stream: int | None = None) -> dict[str, JobState]:
        """The state of every client (of ``stream``, if given) that has one for ``job_type``, by client id."""

    def run_states(self, job_type: JobType, stream: int) -> RunStates:
        """The states a run of ``stream`` starts from: by default every state, read at once.

        A store that can read one client's state cheaply (SQLite) reads only what selection needs
        for every client, and each full state when the run first asks for it: a run on a
        100,000-client stream then starts its first client without building 100,000 states.
        """
        states = self.job_states(job_type, stream)
        return RunStates(states, states)

    def read_stream(self, stream: int, job_types: Sequence[JobType]) -> StreamRead:
        """The stream's clients and their states for ``job_types``, as a run starts from them. A
        store that pays per request (Airtable) reads both in one listing."""
        return StreamRead(self.list_clients(stream), {t: self.run_states(t, stream) for t in job_types})

    @abstractmethod
    def save(self, updates: Sequence[StateUpdate], progress: RunProgress) -> frozenset[str]:
        """Write client states, and record the run's progress; return the clients refused a start.

        The states are written atomically. The progress is written with them, or, by a store
        that pays per request, at the latest with the next ``heartbeat`` or ``finish_run``.
        Raises ``LeaseLostError`` (writing nothing) if the run no longer holds its leases.

        A STARTED state is the claim on a client: it is refused when the client is no longer
        in ``progress.stream`` (removed, or moved by an operator mid-run) or another live run
        has it in flight, so that a client never runs twice at once. Stores that can check in
        the same transaction write nothing for a refused client; the Airtable store learns it
        from the record its write returns.
        """

    @abstractmethod
    def put_states(self, updates: Sequence[StateUpdate]) -> None:
        """Write client states outside a run (an operator releasing a quarantined client)."""

    # -- sweeps --------------------------------------------------------------------------
    @abstractmethod
    def open_sweep(self, job_type: JobType, stream: int) -> Sweep | None:
        """The sweep of (type, stream) that is open, if any."""

    @abstractmethod
    def start_sweep(self, job_type: JobType, stream: int, run_id: str, now: datetime) -> Sweep:
        """Open a new sweep, closing any open one as superseded."""

    @abstractmethod
    def close_sweep(self, sweep_id: str, now: datetime, reason: str) -> None:
        """Close a sweep (``finished`` when every client was attempted, or why not)."""

    # -- runs and leases -----------------------------------------------------------------
    @abstractmethod
    def acquire(
        self,
        run: RunRecord,
        job_types: Sequence[JobType],
        stale_after: float,
        is_dead: LeaseJudge,
    ) -> Acquired | Busy:
        """Atomically take the (type, run.stream) leases for ``run`` and record it as started.

        Leases held by runs that ``is_dead`` judges dead are taken over and those runs are
        recorded as abandoned. If any lease is held by a live run nothing changes and
        ``Busy`` names the holder.
        """

    @abstractmethod
    def heartbeat(self, run_id: str, now: datetime) -> bool:
        """Refresh the run's heartbeat; False if the run no longer holds its leases."""

    @abstractmethod
    def finish_run(self, finish: RunFinish) -> None:
        """Record how the run ended and release its leases."""

    @abstractmethod
    def record_run(self, run: RunRecord) -> None:
        """Record a run that never held a lease (a busy stream), already ended."""

    @abstractmethod
    def runs(self, *, limit: int = 50, run_type: str | None = None, stream: int | None = None) -> list[RunRecord]:
        """Recent runs, newest first."""

    @abstractmethod
    def leases(self) -> list[Lease]:
        """Every lease currently held."""

    @abstractmethod
    def prune_runs(self, before: datetime) -> int:
        """Delete the records of runs that ended before ``before``; returns how many. Never a live run."""

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections; the store is unusable afterwards."""

    def layout_problems(self) -> list[str]:
        """What the store's own layout lacks or has wrong, one line each (``fnf doctor``): an
        Airtable base's missing fields, a damaged SQLite file. Empty when it is ready."""
        return []

    def now(self, local: datetime) -> datetime:
        """The store's clock where it has one (Airtable's, read from its answers), else ``local``.

        Heartbeats are written and judged on it, so hosts whose wall clocks disagree still agree
        on which run is dead.
        """
        return local

    def write_delay(self) -> float:
        """Seconds a write sent now would wait for the store's pacing (0 for unpaced stores).

        A run with clients in flight waits this long for their ends instead, so that one request
        carries them with the next starts; the write itself would have waited as long.
        """
        return 0.0

    @contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """Within the block, give up on an unreachable store after about ``seconds``.

        Used where waiting out a long outage would do harm: recording the end of a run whose
        store already failed. Stores without retries have nothing to bound.
        """
        yield
