"""The status document: where every stream and client stands, as plain data.

``fnf status --json`` prints exactly this; the Rich tables are drawn from it too, so the two can
never disagree. Keys are stable: scripts and dashboards read them. ``version`` changes only if
a key changes meaning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TextIO

from fnf.clock import iso
from fnf.failures import parse_kinds
from fnf.models import Client, JobState, JobType, Lease, Outcome, RunRecord, Status, human_duration, median
from fnf.run import lease as leases
from fnf.run.sweep import pending
from fnf.store.base import Store

DOCUMENT_VERSION = 1


def job_entry(state: JobState | None) -> dict[str, Any]:
    if state is None:
        return {
            "status": None,
            "job_id": None,
            "last_run_date": None,
            "last_run_seconds": None,
            "last_run_time": None,
            "count": None,
            "message": None,
            "timeouts_in_row": 0,
            "quarantined": False,
            "quarantined_at": None,
            "last_alert_type": None,
            "last_alert_time": None,
            "failure_kind": None,
        }
    seconds = None if state.last_run_seconds is None else round(state.last_run_seconds, 3)
    return {
        "status": state.status.value,
        "job_id": state.job_id,
        "last_run_date": iso(state.last_run_date),
        "last_run_seconds": seconds,
        "last_run_time": human_duration(state.last_run_seconds) or None,
        "count": state.count,
        "message": state.message,
        "timeouts_in_row": state.timeouts_in_row,
        "quarantined": state.quarantined_at is not None,
        "quarantined_at": iso(state.quarantined_at),
        "last_alert_type": state.alert_kind,
        "last_alert_time": iso(state.alert_at),
        "failure_kind": state.failure_kind,
    }


def run_entry(run: RunRecord, held: dict[str, Lease], now: datetime) -> dict[str, Any]:
    lease = held.get(run.run_id)
    if lease is not None:
        state = "stale" if leases.is_dead(lease, now) else "running"
    else:
        state = "ended" if run.outcome is not None else "unfinished"
    return {
        "run_id": run.run_id,
        "job_id": run.job_id,
        "type": run.run_type,
        "stream": run.stream,
        "state": state,
        "host": run.holder.host,
        "pid": run.holder.pid,
        "started_at": iso(run.started_at),
        "heartbeat_at": iso(run.heartbeat_at),
        "heartbeat_age_seconds": round(
            leases.heartbeat_age(lease, now) if lease else (now - run.heartbeat_at).total_seconds(), 1
        ),
        "ended_at": iso(run.ended_at),
        "outcome": run.outcome.value if run.outcome else None,
        "completed": run.counts.completed,
        "failed": run.counts.failed,
        "timed_out": run.counts.timed_out,
        "remaining": run.counts.remaining,
        "skipped": run.counts.skipped,
        "failures": parse_kinds(run.counts.failure_kinds),
        "stopped_at": run.stopped_at,
        "message": run.message,
        "alerts": run.alerts,
    }


def build(
    store: Store,
    now: datetime,
    *,
    job_types: tuple[JobType, ...] = tuple(JobType),
    stream: int | None = None,
    run_limit: int = 20,
    clients: bool = True,
) -> dict[str, Any]:
    """The whole document; ``clients=False`` leaves out the per-client rows (the overview: what a
    glance at a 100,000-client store needs, in a fraction of the time)."""
    document, entries = build_lazily(store, now, job_types=job_types, stream=stream, run_limit=run_limit)
    return with_clients(document, list(entries)) if clients else document


def with_clients(document: dict[str, Any], clients: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``document`` with its "clients" in their place, before "runs" (a list, or a generator for
    a reader that keeps only some of them)."""
    head = {k: v for k, v in document.items() if k != "runs"}
    return {**head, "clients": clients, "runs": document["runs"]}


def build_lazily(
    store: Store,
    now: datetime,
    *,
    job_types: tuple[JobType, ...] = tuple(JobType),
    stream: int | None = None,
    run_limit: int = 20,
) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The document without its clients, and the client entries one at a time (see write_json)."""
    members = store.list_clients(stream)
    states = {t: store.job_states(t, stream) for t in job_types}
    held = {lease.holder.run_id: lease for lease in store.leases()}
    runs = store.runs(limit=run_limit, stream=stream)
    runs = [r for r in runs if r.run_type == "all" or r.run_type in {t.value for t in job_types}]
    document: dict[str, Any] = {
        "version": DOCUMENT_VERSION,
        "generated_at": iso(now),
        "streams": _streams(store, members, states, held, runs, now),
        "unusable": [{"record": u.record, "name": u.name, "reason": u.reason} for u in store.unusable(stream)],
        "runs": [run_entry(r, held, now) for r in runs],
    }
    return document, (_client_entry(c, states) for c in members)


def write_json(document: dict[str, Any], clients: Iterable[dict[str, Any]] | None, out: TextIO) -> None:
    """Print the document exactly as ``json.dumps(document, indent=2)`` would, with the clients
    (if given) written one by one: 100,000 clients never exist as one string in memory."""
    head = {k: v for k, v in document.items() if k != "runs"}
    text = json.dumps(head, indent=2)
    if clients is None:
        out.write(json.dumps(document, indent=2) + "\n")
        return
    out.write(text[:-2] + ',\n  "clients": [')
    first = True
    for entry in clients:
        out.write(("\n    " if first else ",\n    ") + json.dumps(entry, indent=2).replace("\n", "\n    "))
        first = False
    out.write("]" if first else "\n  ]")
    out.write(',\n  "runs": ' + json.dumps(document["runs"], indent=2).replace("\n", "\n  ") + "\n}\n")


def _client_entry(client: Client, states: dict[JobType, dict[str, JobState]]) -> dict[str, Any]:
    return {
        "id": client.id,
        "name": client.name,
        "stream": client.stream,
        "jobs": {t.value: job_entry(s.get(client.id)) for t, s in states.items()},
    }


def _streams(
    store: Store,
    clients: list[Client],
    states: dict[JobType, dict[str, JobState]],
    held: dict[str, Lease],
    runs: list[RunRecord],
    now: datetime,
) -> list[dict[str, Any]]:
    by_stream: dict[int, list[Client]] = {}
    for client in clients:
        if client.stream is not None:
            by_stream.setdefault(client.stream, []).append(client)
    result = []
    for number in sorted(by_stream):
        members = by_stream[number]
        for job_type, type_states in states.items():
            sweep = store.open_sweep(job_type, number)
            left = [c for c in members if sweep is None or pending(type_states.get(c.id), sweep.id) is not None]
            remaining = len(left)
            shown = sweep.id if sweep else _last_sweep(members, type_states)  # a finished sweep keeps its result
            in_sweep = [s for c in members if shown and (s := type_states.get(c.id)) and s.sweep_id == shown]
            live = next((held for held in held.values() if held.job_type == job_type and held.stream == number), None)
            last = next(
                (
                    r
                    for r in runs
                    if r.stream == number and r.run_type in (job_type.value, "all") and r.outcome is not Outcome.BUSY
                ),
                None,
            )
            result.append(
                {
                    "type": job_type.value,
                    "stream": number,
                    "clients": len(members),
                    "sweep": sweep.number if sweep else None,
                    "sweep_open": sweep is not None,
                    "remaining": remaining,
                    "done": len(members) - remaining
                    if sweep
                    else sum(1 for st in in_sweep if not st.status.in_progress),
                    "last_sweep_finished": sweep is None and bool(in_sweep),
                    "failed": sum(1 for s in in_sweep if s.status is Status.FAILED),
                    "timed_out": sum(1 for s in in_sweep if s.status is Status.CLIENT_TIMEOUT_KILLED),
                    "eta_seconds": _eta(left, members, type_states),
                    "quarantined": sum(
                        1 for c in members if (s := type_states.get(c.id)) is not None and s.quarantined_at is not None
                    ),
                    "live_run": _live(live, now),
                    "last_outcome": last.outcome.value if last and last.outcome else None,
                }
            )
    return result


def _last_sweep(members: list[Client], states: dict[str, JobState]) -> str | None:
    """The sweep the stream's most recent client end belongs to (when none is open: the last one)."""
    latest = max(
        (s for c in members if (s := states.get(c.id)) is not None), key=lambda s: s.last_run_date, default=None
    )
    return latest.sweep_id if latest is not None else None


def _eta(left: list[Client], members: list[Client], states: dict[str, JobState]) -> float | None:
    """Seconds the clients left should take, from their recent runs (p90); a client never measured
    counts as the stream's median. None when no client of the stream has any history yet."""
    if not left:
        return 0.0
    typical = {c.id: s.typical_seconds() for c in members if (s := states.get(c.id)) is not None}
    fallback = median([v for v in typical.values() if v is not None])
    if fallback is None:
        return None
    return round(sum(typical.get(c.id) or fallback for c in left), 1)


def _live(lease: Lease | None, now: datetime) -> dict[str, Any] | None:
    if lease is None:
        return None
    return {
        "run_id": lease.holder.run_id,
        "host": lease.holder.host,
        "pid": lease.holder.pid,
        "heartbeat_age_seconds": round(leases.heartbeat_age(lease, now), 1),
        "stale": leases.is_dead(lease, now),
    }
