"""Operator repairs: reset a (type, stream) a dead run left behind, prune old history."""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from fnf import host
from fnf.clock import Clock, SystemClock, iso
from fnf.commands.inputs import parse_age
from fnf.commands.opening import store_for
from fnf.config import Settings
from fnf.errors import UsageError
from fnf.models import Holder, JobType, Outcome, StateUpdate, Status, human_duration, job_types_of
from fnf.run import lease as leases
from fnf.store import Store
from fnf.store.base import RunFinish


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
    with store_for(settings) as store:
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


def prune_history(settings: Settings, older_than: str) -> int:
    """Delete the records of runs that ended more than ``older_than`` ago (``30d``, ``12h``)."""

    seconds = parse_age(older_than, flag="--older-than")
    with store_for(settings) as store:
        return store.prune_runs(SystemClock().now() - timedelta(seconds=seconds))
