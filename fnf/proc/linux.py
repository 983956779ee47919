"""Process trees read from Linux's /proc: children, descendants, who holds a file, subreaping.

The identity of one process (boot, pid, start time) is in ``fnf.host``.
"""

from __future__ import annotations

import ctypes
import os
import signal
from functools import cache
from pathlib import Path

from fnf.host import stat_fields

_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1


def parent_of(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[1]) if fields else None


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
    """Every live descendant of ``pid``: a walk down the kernel's children lists (a few small reads),
    else one scan of every process in /proc (milliseconds per hundred processes on the host)."""
    if _children_lists():
        below: list[int] = []
        frontier = [pid]
        while frontier:
            children = children_of(frontier.pop())
            below += children
            frontier += children
        return below
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
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent: int) -> bool:
    """Be killed (SIGKILL) when the thread that forked this process ends; False if the parent is
    already gone (the request would then never fire) or the kernel cannot do it."""
    return _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL)) and os.getppid() == parent


def _prctl(option: int, value: int) -> bool:
    try:
        return int(_libc().prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def reap_quietly(pid: int) -> None:
    """Reap ``pid`` if it has exited (a child that is gone already is no error)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


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
