"""Spreading clients over streams: round-robin, or balanced by measured work.

Pure functions of the clients (in stable order) and their measured durations, so that the rule
is readable and testable; the CLI previews the result and writes it only with ``--yes``.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fnf.models import Client, JobState, JobType, median


def round_robin(clients: Sequence[Client], streams: int) -> dict[str, int]:
    """Stream 1 gets clients 1, N+1, 2N+1 ...; stream 2 gets 2, N+2 ... (in stable order)."""
    return {client.id: index % streams + 1 for index, client in enumerate(clients)}


def balanced(clients: Sequence[Client], work: Mapping[str, float], streams: int) -> dict[str, int]:
    """Longest work first onto the least-loaded stream, so streams finish together.

    The heaviest and lightest streams then differ by less than the largest single client.
    Clients never measured count as the median measured duration (or 1 s if none was).
    """
    default = median([w for w in work.values() if w > 0]) or 1.0
    loads = [(0.0, number) for number in range(1, streams + 1)]
    heapq.heapify(loads)
    order = sorted(clients, key=lambda c: (-(work.get(c.id) or default), c.id))
    assignment: dict[str, int] = {}
    for client in order:
        load, number = heapq.heappop(loads)
        assignment[client.id] = number
        heapq.heappush(loads, (load + (work.get(client.id) or default), number))
    return assignment


def measured_work(states: Mapping[JobType, Mapping[str, JobState]]) -> dict[str, float]:
    """Seconds of work per client: the last run's duration, summed over job types."""
    work: dict[str, float] = {}
    for by_client in states.values():
        for client_id, state in by_client.items():
            if state.last_run_seconds:
                work[client_id] = work.get(client_id, 0.0) + state.last_run_seconds
    return work


@dataclass(frozen=True)
class StreamLoad:
    stream: int | None
    clients: int
    seconds: float
    unmeasured: int


def loads(
    clients: Sequence[Client], work: Mapping[str, float], assignment: Mapping[str, int | None]
) -> list[StreamLoad]:
    by_stream: dict[int | None, list[Client]] = {}
    for client in clients:
        by_stream.setdefault(assignment.get(client.id), []).append(client)
    out = []
    for number in sorted(by_stream, key=lambda n: (n is None, n or 0)):
        members = by_stream[number]
        out.append(
            StreamLoad(
                number,
                len(members),
                sum(work.get(c.id, 0.0) for c in members),
                sum(1 for c in members if c.id not in work),
            )
        )
    return out
