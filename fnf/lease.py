"""Deciding whether the run that holds a stream is dead.

A lease is dead when its heartbeat is older than three of the holder's own intervals, or, on
the same host, at once when its process is provably gone (pid absent, or reused by another
process). A process on another host can only be judged by its heartbeat.
"""

from __future__ import annotations

from datetime import datetime

from fnf import procs
from fnf.models import Lease


def heartbeat_age(lease: Lease, now: datetime) -> float:
    return (now - lease.heartbeat_at).total_seconds()


def is_stale(lease: Lease, now: datetime) -> bool:
    return heartbeat_age(lease, now) > lease.stale_after_seconds


def is_dead(lease: Lease, now: datetime) -> bool:
    if procs.holder_alive(lease.holder) is False:
        return True
    return is_stale(lease, now)


def describe(lease: Lease, now: datetime) -> str:
    holder = lease.holder
    return (
        f"run {holder.run_id} (host {holder.host}, pid {holder.pid}), "
        f"last heartbeat {heartbeat_age(lease, now):.0f} s ago"
    )
