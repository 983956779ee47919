"""Running one client's work in a watched child process, and stopping it without fail.

Process layout for one piece of work::

    runner (child subreaper)
      └─ guard   (own session and process group; ignores SIGTERM; watches the lifeline)
           └─ horse (the handler: a forked Python callable, or an exec'd command)
                └─ whatever the handler starts

* The runner holds the only write end of a *lifeline* pipe. If the runner dies in any way,
  SIGKILL included, the guard reads EOF and kills the whole tree within a second. A parent-death
  signal would not do: it is cleared on fork and races with the parent's death.
* At a deadline the runner sends SIGTERM to the group, waits the grace period, then SIGKILL to
  the group. Grandchildren that escaped with ``setsid`` are re-parented to the guard or the
  runner (both are subreapers) and killed by the sweep that follows every client.
* Output goes to files, never to a pipe the runner must drain: a grandchild that keeps stdout
  open or a child that writes 20 MB cannot stall the runner.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fnf.handlers import CommandHandler
from fnf.proc import linux as procs
from fnf.proc.child import guard_main
from fnf.proc.linux import kill_quietly, killpg_quietly
from fnf.proc.outcome import classify_command, classify_python, describe_status, forward_output, read_json
from fnf.proc.signals import StopFlag
from fnf.proc.work import ChildResult, ResultKind, Work, WorkFiles

log = logging.getLogger("fnf.watchdog")

_SWEEP_SECONDS = 2.0


class ProcessExecutor:
    """Starts work in guarded process groups; one instance per run."""

    def __init__(
        self,
        workdir: Path,
        environ: dict[str, str],
        stop: StopFlag,
        *,
        log_cap: int = 262144,
        reap_orphans: bool = True,
    ) -> None:
        self.workdir = workdir
        self.environ = environ
        self.stop = stop
        self.log_cap = log_cap
        self.reap_orphans = reap_orphans
        self._seq = 0
        self._free: list[int] = []
        """File numbers of ended work, reused: a few names per run, however many clients."""
        self._lifelines: set[int] = set()
        self._guards: set[int] = set()
        self._warned_threads = False
        if reap_orphans:
            procs.become_subreaper()

    def start(self, work: Work) -> WatchedChild:
        foreign = _foreign_threads()
        if foreign and not self._warned_threads:
            self._warned_threads = True
            log.warning(
                "%d threads are running in the runner (started by a handler module at import?); "
                "forking with threads can deadlock the child; start threads inside the handler instead",
                foreign,
            )
        if self._free:
            number = heapq.heappop(self._free)
        else:
            self._seq += 1
            number = self._seq
        files = WorkFiles.in_dir(self.workdir, number)
        files.remove()  # nothing an earlier client left may be read as this one's result
        read_end, write_end = os.pipe()
        out_fd = os.open(files.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err_fd = os.open(files.err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        inherited = {*self._lifelines, write_end}
        flag_fds = self.stop.fds()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, observed through its effects
            code = 70
            try:
                inherited.update(flag_fds)
                guard_main(work, files, read_end, out_fd, err_fd, inherited, self.environ)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(read_end)
        os.close(out_fd)
        os.close(err_fd)
        self._lifelines.add(write_end)
        self._guards.add(pid)
        return WatchedChild(self, work, files, pid, write_end, number)

    def wait_any(self, children: Sequence[object], timeout: float) -> None:
        """Block until one of ``children`` exits, a signal reaches the runner, or ``timeout`` passes.

        One ``select`` over every child's pidfd, so K clients in flight cost no polling.
        """
        watched = [child for child in children if isinstance(child, WatchedChild)]
        if any(child._poll() for child in watched):
            return
        pidfds = [child._pidfd for child in watched]
        fds = [fd for fd in (*pidfds, self.stop.fileno()) if fd is not None]
        if None in pidfds:
            timeout = min(timeout, 0.02)
        try:
            select.select(fds, [], [], max(0.0, timeout))
        except InterruptedError:
            pass
        self.stop.drain()

    def _forget(self, child: WatchedChild) -> None:
        self._lifelines.discard(child.lifeline)
        self._guards.discard(child.pid)
        os.close(child.lifeline)

    def sweep_orphans(self) -> int:
        """Kill and reap every child of the runner that is not a live guard. Returns how many."""
        if not self.reap_orphans:
            return 0
        found = 0
        own_group = os.getpgrp()
        deadline = time.monotonic() + _SWEEP_SECONDS
        while time.monotonic() < deadline:
            strays = [p for p in procs.children_of(os.getpid()) if p not in self._guards]
            if not strays:
                break
            for pid in strays:
                found += 1
                kill_quietly(pid, own_group)
                _reap(pid)
            time.sleep(0.005)
        return found


class WatchedChild:
    """One running piece of work, seen from the runner."""

    def __init__(
        self, executor: ProcessExecutor, work: Work, files: WorkFiles, pid: int, lifeline: int, number: int
    ) -> None:
        self.executor = executor
        self.number = number
        self.work = work
        self.files = files
        self.pid = pid
        self.pgid = pid
        self.lifeline = lifeline
        self.started = time.monotonic()
        self._exit_status: int | None = None
        self._stopped_by: str | None = None
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = None

    # -- waiting -------------------------------------------------------------------------
    def wait(self, timeout: float) -> ChildResult | None:
        """Wait up to ``timeout`` seconds. Returns the result if the work ended, else None.

        Returns early, with None, when a signal reaches the runner.
        """
        if self._wait_exit(timeout):
            return self._finish(stopped_by=self._stopped_by)
        return None

    def _wait_exit(self, timeout: float) -> bool:
        self.executor.wait_any([self], timeout)
        return self._poll()

    def _poll(self) -> bool:
        if self._exit_status is not None:
            return True
        exited = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if exited is None:
            return False
        # Kill what is left of the group *before* reaping the guard: while the guard is a
        # zombie its pid, and so the group id, cannot be reused by an unrelated process.
        killpg_quietly(self.pgid, signal.SIGKILL)
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return False
        self._exit_status = status
        return True

    # -- stopping ------------------------------------------------------------------------
    def terminate(self) -> None:
        """SIGTERM to the group without waiting; the result then says the work was stopped.

        The runner uses this with :meth:`kill` to stop several children at once, each on its
        own grace period, instead of blocking on one.
        """
        if self._stopped_by is None:
            self._stopped_by = "stopped by SIGTERM"
            killpg_quietly(self.pgid, signal.SIGTERM)

    def kill(self, how: str = "killed by SIGKILL") -> ChildResult:
        killpg_quietly(self.pgid, signal.SIGKILL)
        if self._exit_status is None:
            _, self._exit_status = os.waitpid(self.pid, 0)
        return self._finish(stopped_by=how)

    # -- results -------------------------------------------------------------------------
    def progress(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.files.progress.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _finish(self, stopped_by: str | None) -> ChildResult:
        seconds = time.monotonic() - self.started
        self.executor._forget(self)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        strays = self.executor.sweep_orphans()
        try:
            result = self._classify(stopped_by, seconds)
            if strays:
                log.info("client %s: killed %d leftover process(es)", self.work.client.id, strays)
            forward_output(self.work.client.id, self.files, self.executor.log_cap)
        finally:
            self.files.remove()
            heapq.heappush(self.executor._free, self.number)
        return result

    def _classify(self, stopped_by: str | None, seconds: float) -> ChildResult:
        horse_status = read_json(self.files.status)
        overdue = bool(horse_status and horse_status.pop("overdue", None))
        reported = read_json(self.files.result) or {}
        if isinstance(self.work.handler, CommandHandler):
            result = classify_command(horse_status, reported, self.files, seconds)
        else:
            result = classify_python(horse_status, reported, seconds)
        if result.kind is ResultKind.SUCCEEDED and result.count is not None:
            return result  # work that reported its count finished before any stop reached it: done
        if stopped_by is None and overdue:
            stopped_by = f"{describe_status(horse_status)} by its guard at the deadline (the runner was held up)"
        if stopped_by is None:
            return result
        return ChildResult(ResultKind.STOPPED, message=stopped_by, seconds=seconds)


OWN_THREAD_PREFIX = "fnf-"
"""fnf's own threads (the progress display, alert delivery) hold no lock a forked child needs."""


def _foreign_threads() -> int:
    return sum(
        1
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.name.startswith(OWN_THREAD_PREFIX)
    )


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
