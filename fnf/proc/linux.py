"""Process facts read from Linux's /proc: identity that survives pid reuse, children, subreaping.

A pid alone proves nothing: it is reused. A process is identified by (host, boot id, pid,
start time in clock ticks); fnf only signals a recorded process when all four still match.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import time
from functools import cache
from pathlib import Path

from fnf.models import Holder

_PR_SET_CHILD_SUBREAPER = 36


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


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may contain spaces)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot, or ``None`` if there is no such pid."""
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def state_of(pid: int) -> str | None:
    """The one-letter state (``R``, ``S``, ``Z`` ...) or ``None`` if gone."""
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _all_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``: one small read per thread where the kernel keeps a children
    list (/proc/PID/task/TID/children), else a scan of every process's parent."""
    if not _children_lists():
        return [other for other in _all_pids() if parent_of(other) == pid]
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", "rb") as handle:
                found += [int(child) for child in handle.read().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return found


@cache
def _children_lists() -> bool:
    me = os.getpid()
    return os.path.exists(f"/proc/{me}/task/{me}/children")


def descendants_of(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (one scan of /proc)."""
    parents: dict[int, list[int]] = {}
    for other in _all_pids():
        parent = parent_of(other)
        if parent is not None:
            parents.setdefault(parent, []).append(other)
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        for child in parents.get(current, []):
            found.append(child)
            frontier.append(child)
    return found


def openers(path: Path) -> list[tuple[int, str]]:
    """Other processes (that this user may inspect) with ``path`` or its SQLite journal files open:
    (pid, command line cut to 60 characters). Used to name who holds a store locked."""
    targets = {str(path.resolve()) + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    found = []
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if links & targets:
            found.append((pid, _command_line(pid)))
    return found


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            words = handle.read().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(w.decode("utf-8", "replace") for w in words if w)
    return text if len(text) <= 60 else text[:57] + "..."


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process instead of init (Linux only).

    A grandchild that escapes its process group with ``setsid`` is then still ours to find and
    kill once its client is done.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


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


def killpg_quietly(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def kill_quietly(pid: int, own_group: int) -> None:
    try:
        group = os.getpgid(pid)
        if group == pid and group != own_group:
            os.killpg(group, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
