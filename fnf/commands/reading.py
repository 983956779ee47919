"""What operators read: the status document and the history of runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TextIO

from fnf import status as status_doc
from fnf.clock import SystemClock
from fnf.commands.opening import store_for
from fnf.config import Settings
from fnf.models import JobType, job_types_of


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
