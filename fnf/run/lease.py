"""Deciding whether the run that holds a stream is dead.

A lease is dead when its heartbeat is older than three of the holder's own intervals, or, on
the same host, at once when its process is provably gone (pid absent, or reused by another
process). A process on another host can only be judged by its heartbeat.

Ages never rest on two wall clocks agreeing: a run of the holder's boot reads the age on the
clock no one steps (``Lease.beat``); the Airtable store writes and judges heartbeats on
Airtable's own clock (``Store.now``). A heartbeat further in the future than the stale period
cannot come from a run judged that way: its writer's clock is wrong, and it is treated as stale
(and reported) rather than blocking the stream forever.
"""

from __future__ import annotations

from datetime import datetime

from fnf import host
from fnf.models import Lease


def heartbeat_age(lease: Lease, now: datetime) -> float:
    """Seconds since the holder's last heartbeat (negative: it lies in the future)."""
    age = host.beat_age(lease.beat) if lease.beat else None
    return age if age is not None else (now - lease.heartbeat_at).total_seconds()


def in_future(lease: Lease, now: datetime) -> bool:
    """A heartbeat further in the future than the stale period: written by a wrong clock."""
    return heartbeat_age(lease, now) < -lease.stale_after_seconds


def is_stale(lease: Lease, now: datetime) -> bool:
    age = heartbeat_age(lease, now)
    return age > lease.stale_after_seconds or age < -lease.stale_after_seconds


def is_dead(lease: Lease, now: datetime) -> bool:
    if host.holder_alive(lease.holder) is False:
        return True
    return is_stale(lease, now)


def describe(lease: Lease, now: datetime) -> str:
    holder = lease.holder
    age = heartbeat_age(lease, now)
    when = (
        f"last heartbeat {age:.0f} s ago"
        if age >= -5
        else f"last heartbeat {-age:.0f} s in the future (a clock is wrong)"
    )
    return f"run {holder.run_id} (host {holder.host}, pid {holder.pid}), {when}"
