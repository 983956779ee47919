"""Changing the clients: import, list, remove, release from quarantine, spread over streams."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fnf import csvfile
from fnf.clock import SystemClock, iso
from fnf.commands.opening import store_for
from fnf.config import Settings
from fnf.errors import UsageError
from fnf.models import Client, JobType, StateUpdate, job_types_of
from fnf.run import lease as leases
from fnf.store import Store
from fnf.store.base import ImportReport


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


def stream_loads(settings: Settings) -> list[Any]:
    """Clients and measured work per stream now (unassigned clients under ``None``)."""
    from fnf import streams

    with store_for(settings, readonly=True) as store:
        clients = store.list_clients()
        work = streams.measured_work({t: store.job_states(t) for t in JobType})
    return streams.loads(clients, work, {c.id: c.stream for c in clients})


@dataclass(frozen=True)
class Assignment:
    loads: list[Any]
    """Clients and measured work per stream after the assignment."""
    moves: list[tuple[str, str, int | None, int]]
    """(client id, name, stream before, stream after) of every client that changes stream."""
    live: list[str]
    """Live runs holding a stream that gains or loses clients, described."""


def assign_streams(settings: Settings, count: int, *, balance: bool, write: bool) -> Assignment:
    """The assignment of every client to ``count`` streams; written only when ``write``."""
    from fnf import streams

    if count < 1:
        raise UsageError(f"--streams {count} is not a number of streams: use 1 or more")
    with store_for(settings) as store:
        clients = store.list_clients()
        work = streams.measured_work({t: store.job_states(t) for t in JobType})
        plan = streams.balanced(clients, work, count) if balance else streams.round_robin(clients, count)
        moved = [c for c in clients if c.stream != plan[c.id]]
        touched = {s for c in moved for s in (c.stream, plan[c.id]) if s is not None}
        now = store.now(SystemClock().now())
        live = [
            f"{lease.job_type.value} stream {lease.stream}: {leases.describe(lease, now)}"
            for lease in store.leases()
            if lease.stream in touched and not leases.is_dead(lease, now)
        ]
        if write and moved:
            store.import_clients([replace(c, stream=plan[c.id]) for c in moved])
    moves = [(c.id, c.name, c.stream, plan[c.id]) for c in moved]
    return Assignment(streams.loads(clients, work, dict(plan)), moves, live)
