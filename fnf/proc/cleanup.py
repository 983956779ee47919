"""Killing what work left behind: after each end, and when the process server shuts down.

Everything here runs in the process server, a subreaper: whatever a work's processes abandon
re-parents to the work (a Python handler's work is a subreaper too) or, for a spawned command and
once any work has ended, to the server.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Collection, Iterable

from fnf.proc import command
from fnf.proc import linux as procs
from fnf.proc.linux import kill_quietly, killpg_quietly, reap_quietly

CLEANUP_SECONDS = 30.0
"""A bound that only guards against a kernel that hides children: cleanup ends when none is left."""


def kill_leftovers(live: Collection[int], running: Collection[command.Owner]) -> None:
    """Kill and reap the server's children that are not ``live`` work (or the spare) and that no
    ``running`` command owns.

    A Python handler's work is a subreaper, so what it abandons stays in its own tree while it
    lives and comes here only when it has ended; what a running command abandons comes here at once
    and is left to it while it runs (its owner marks). A process that forks and exits to change its
    pid lands here again: keep killing and reaping until none is left.
    """
    own_group = os.getpgrp()
    deadline = time.monotonic() + CLEANUP_SECONDS
    while time.monotonic() < deadline:
        strays = [pid for pid in procs.children_of(os.getpid()) if pid not in live]
        if running:
            strays = [pid for pid in strays if command.owner_of(pid) not in running]
        if not strays:
            return
        for pid in strays:
            kill_quietly(pid, own_group)
        for pid in strays:
            reap_quietly(pid)


def kill_everything(groups: Iterable[int]) -> None:
    """Kill every work's group, then every descendant of the server, and reap them."""
    for group in groups:
        killpg_quietly(group, signal.SIGKILL)
    deadline = time.monotonic() + CLEANUP_SECONDS
    while time.monotonic() < deadline:
        found = procs.descendants_of(os.getpid())
        if not found:
            return
        for pid in found:
            kill_quietly(pid, os.getpgrp())
        _reap_all()


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
