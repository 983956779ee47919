"""Which clients a run may touch, and in which order: the stream's members, their states, the
sweep's selection. Reads only: a plan (``fnf run --dry-run``) changes nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager

from fnf.errors import UsageError
from fnf.models import Client, JobState, JobType, human_duration, job_types_of
from fnf.run.request import RunRequest
from fnf.run.sweep import Task, select
from fnf.store.base import Marked, Store, StreamRead


class Planner:
    """Reads the stream from the store; keeps the states it read (``known``, which a store may
    fill as they are asked for), which the flight uses for each client's history, and the
    quarantined clients it passed over."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.known: dict[JobType, MutableMapping[str, JobState]] = {}
        self.quarantined: list[str] = []
        self._listed: list[Client] | None = None
        """The clients named with --client, listed before the run took its stream, which ``select``
        uses instead of reading the stream again (a listing is a request per 100 clients on
        Airtable). A client that left the stream meanwhile is refused at its start."""
        self._read: StreamRead | None = None
        """The stream and its states as ``read`` found them, for the next ``select``."""

    def members(self, request: RunRequest) -> list[Client]:
        """The clients the run may touch: the stream's, or the ones named with --client."""
        with _bulk():
            self._listed = self.store.list_clients(request.stream)
        return self._members(request, self._listed)

    def _members(self, request: RunRequest, clients: list[Client]) -> list[Client]:
        if not request.client_ids:
            return clients
        by_id = {c.id: c for c in clients}
        missing = [cid for cid in request.client_ids if cid not in by_id]
        if missing:
            raise UsageError("; ".join(self._not_here(missing, request.stream)))
        wanted = set(request.client_ids)
        return [c for c in clients if c.id in wanted]

    def _not_here(self, missing: Sequence[str], stream: int) -> list[str]:
        everywhere = {c.id: c for c in self.store.list_clients()}
        problems = []
        for cid in missing:
            other = everywhere.get(cid)
            if other is None:
                problems.append(f"no client has id {cid!r} (see: fnf clients list)")
            else:
                problems.append(
                    f"client {cid!r} is in stream {other.stream}, not {stream} (use --stream {other.stream})"
                )
        return problems

    def plan(self, request: RunRequest) -> list[Task]:
        """What a run would do now, in order, without changing anything (``--dry-run``)."""
        job_types = job_types_of(request.run_type)
        if request.client_ids:
            return [Task(c, job_types) for c in self.members(request)]
        sweeps: dict[JobType, str] = {}
        for job_type in job_types:
            sweep = None if request.new_sweep else self.store.open_sweep(job_type, request.stream)
            sweeps[job_type] = sweep.id if sweep else "(new sweep)"
        read = self._stream(request.stream, job_types)
        clients, states = read.clients, _marks(read)
        tasks = select(clients, states, sweeps, retry_failed=request.retry_failed)
        if not tasks and not request.new_sweep:
            fresh = {t: "(new sweep)" for t in job_types}
            tasks = select(clients, states, fresh)
        return tasks

    def read(self, request: RunRequest, job_types: Sequence[JobType]) -> list[Client]:
        """The stream's clients, read with their states once the run holds the stream (one read
        where a store can: a listing of the stream on Airtable); the next ``select`` uses both."""
        self._read = self._stream(request.stream, job_types)
        return self._read.clients

    def _stream(self, stream: int, job_types: Sequence[JobType]) -> StreamRead:
        """The stream and its states (the full states go to ``known``)."""
        with _bulk():
            read = self.store.read_stream(stream, job_types)
        self.known.update({t: states.full for t, states in read.states.items()})
        return read

    def select(self, request: RunRequest, sweeps: Mapping[JobType, str], live: set[str]) -> list[Task]:
        """The run's clients still to do in these sweeps, in order (``live``: runs that hold
        other streams, whose clients in flight are not started here). The stream is read again
        unless ``read`` just did: a client that joined is taken in at the sweep's end."""
        if request.client_ids:
            listed, self._listed = self._listed, None
            clients = self.members(request) if listed is None else self._members(request, listed)
            order = {cid: i for i, cid in enumerate(request.client_ids)}
            return [Task(c, tuple(sweeps)) for c in sorted(clients, key=lambda c: order[c.id])]
        read, self._read = self._read, None
        if read is None or set(read.states) != set(sweeps):
            for job_type in sweeps:  # nothing is in flight: let go of the last read before the next
                self.known.pop(job_type, None)
            read = self._stream(request.stream, tuple(sweeps))
        clients, states = read.clients, _marks(read)
        held = {cid for t in sweeps for cid, state in states[t].items() if state.quarantined_at}
        self.quarantined = [c.id for c in clients if c.id in held]
        with _bulk():  # a Task per client
            return select(clients, states, sweeps, retry_failed=request.retry_failed, live_runs=live)

    def too_long(self, task: Task, job_type: JobType, left: float) -> str | None:
        """Why the client should not start with ``left`` seconds to the job deadline: its typical
        run (from the history read with its state) does not fit. None if it fits or is unmeasured."""
        known = self.known.get(job_type, {}).get(task.client.id)
        typical = known.typical_seconds() if known else None
        if known is None or typical is None or typical <= left:
            return None
        return (
            f"not starting {task.client.id} ({task.client.name}): its typical {job_type.value} run "
            f"(p90 of its last {len(known.recent_seconds)}: {human_duration(typical)}) does not fit "
            f"in the {human_duration(left)} left before the job deadline"
        )


def _marks(read: StreamRead) -> dict[JobType, Mapping[str, Marked]]:
    """What selection reads of each client's state, per job type."""
    return {t: states.marks for t, states in read.states.items()}


@contextmanager
def _bulk() -> Iterator[None]:
    """Reading a stream makes a few objects per client, none of them in a reference cycle; the
    cyclic collector would walk all of them again and again while they pile up (a third of a
    100,000-client run's start), so it waits until the read is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # what was read stays for the run: later collections need not walk it again
        if enabled:
            gc.enable()
