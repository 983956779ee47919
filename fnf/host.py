"""Who and where a run is: this boot of this machine, and the identity of a holder's process.

A pid alone proves nothing: it is reused. A process is identified by (host, boot id, pid,
start time in clock ticks); fnf only judges or signals a recorded process when all four still
match. Heartbeat ages are read on this boot's never-stepped clock (``beat_stamp``).
"""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import time
from functools import cache
from pathlib import Path

from fnf.models import Holder


@cache
def boot_id() -> str:
    """This boot of this kernel, and the pid namespace pids are read in: ``BOOT|pid:[NS]``."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            boot = handle.read().strip()
    except OSError:
        boot = "unknown"
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = "pid:[unknown]"
    return f"{boot}|{namespace}"


def boottime() -> float:
    """Seconds since this machine booted, suspend included: the clock no one steps (NTP, an
    operator, a VM restore), shared by every process of this boot."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def beat_stamp() -> str:
    """Where this boot's never-stepped clock stands: ``BOOT@SECONDS``, written with each heartbeat
    so that a run of the same boot judges a heartbeat's age without trusting wall clocks."""
    return f"{boot_id().partition('|')[0]}@{boottime():.3f}"


def beat_age(stamp: str) -> float | None:
    """Seconds since ``stamp`` was written, if it was written during this boot; else None."""
    boot, _, seconds = stamp.rpartition("@")
    if not boot or boot != boot_id().partition("|")[0]:
        return None
    try:
        return max(0.0, boottime() - float(seconds))  # the stamp is rounded to the millisecond
    except ValueError:
        return None


def hostname() -> str:
    return socket.gethostname()


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may contain spaces)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot, or ``None`` if there is no such pid."""
    fields = stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def state_of(pid: int) -> str | None:
    """The one-letter state (``R``, ``S``, ``Z`` ...) or ``None`` if gone."""
    fields = stat_fields(pid)
    return fields[0] if fields else None


def this_holder(run_id: str) -> Holder:
    pid = os.getpid()
    return Holder(
        run_id=run_id,
        host=hostname(),
        pid=pid,
        boot_id=boot_id(),
        pid_start=start_ticks(pid) or "",
    )


def holder_alive(holder: Holder) -> bool | None:
    """True if ``holder``'s process provably still runs, False if provably gone, None if unknown.

    Unknown means another host (or this host behind another pid namespace): only the heartbeat
    can tell then.
    """
    if holder.host != hostname():
        return None
    their_boot, _, their_namespace = holder.boot_id.partition("|")
    our_boot, _, our_namespace = boot_id().partition("|")
    if their_boot != our_boot:
        return False
    if their_namespace != our_namespace:
        return None
    current = start_ticks(holder.pid)
    if current is None or state_of(holder.pid) == "Z":
        return False
    return current == holder.pid_start


def kill_holder(holder: Holder, signum: int = signal.SIGKILL) -> bool:
    """Signal the holder's process (SIGKILL unless told), only if it is provably the same process.
    Returns True if sent.

    Never this process: a run embedded in a long-lived program may take over a lease an earlier
    run of the same program left behind.
    """
    if holder.pid == os.getpid() or holder_alive(holder) is not True:
        return False
    try:
        os.kill(holder.pid, signum)
    except ProcessLookupError:
        return False
    return True


def stop_note(run_id: str) -> Path:
    """Where ``fnf stop`` says who asked a run to stop, before its SIGTERM: the run then records
    "interrupted by an operator (fnf stop)" rather than a bare SIGTERM."""
    return Path(tempfile.gettempdir()) / f"fnf-stop-{run_id}"
