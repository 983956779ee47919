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

import errno
import faulthandler
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
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from fnf import procs
from fnf.handlers import CommandHandler, Context, Handler, PythonHandler, placeholder_values
from fnf.models import Client, JobType, bounded
from fnf.signals import StopFlag, reset_in_child

log = logging.getLogger("fnf.watchdog")
child_log = logging.getLogger("fnf.child")

_TAIL_BYTES = 64 * 1024
_SWEEP_SECONDS = 2.0
_GUARD_POLL = 0.5
_CLEANUP_SECONDS = 30.0
_GUARD_SLACK = 1.0
"""Seconds past a client's deadline after which its guard stops it, if the runner has not."""
_LINE_MAX = 4096
"""Characters of one logged line of a child's output; a longer one keeps its head and tail."""


@dataclass(frozen=True)
class Work:
    client: Client
    job_type: JobType
    job_id: str
    run_id: str
    stream: int
    deadline: datetime
    deadline_monotonic: float
    handler: Handler
    grace: float = 0.0
    """Seconds between SIGTERM and SIGKILL at the deadline (FNF_KILL_GRACE_SECONDS)."""


class ResultKind(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    """fnf stopped it (deadline or signal): the runner decides which status that means."""


@dataclass(frozen=True)
class ChildResult:
    kind: ResultKind
    count: int | None = None
    message: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class _Files:
    out: Path
    err: Path
    result: Path
    status: Path
    progress: Path

    @classmethod
    def in_dir(cls, directory: Path, seq: int) -> _Files:
        base = directory / f"w{seq}"
        return cls(*(base.with_suffix(s) for s in (".out", ".err", ".result", ".status", ".progress")))

    def remove(self) -> None:
        for path in (self.out, self.err, self.result, self.status, self.progress):
            path.unlink(missing_ok=True)


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
        files = _Files.in_dir(self.workdir, number)
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
                _guard_main(work, files, read_end, out_fd, err_fd, inherited, self.environ)
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
                _kill_quietly(pid, own_group)
                _reap(pid)
            time.sleep(0.005)
        return found


class WatchedChild:
    """One running piece of work, seen from the runner."""

    def __init__(
        self, executor: ProcessExecutor, work: Work, files: _Files, pid: int, lifeline: int, number: int
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
        _killpg_quietly(self.pgid, signal.SIGKILL)
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
            _killpg_quietly(self.pgid, signal.SIGTERM)

    def stop(self, grace: float) -> ChildResult:
        """SIGTERM to the group, up to ``grace`` seconds, then SIGKILL to the group."""
        _killpg_quietly(self.pgid, signal.SIGTERM)
        how = "stopped by SIGTERM"
        end = time.monotonic() + grace
        while not self._poll():
            left = end - time.monotonic()
            if left <= 0 or self.executor.stop.immediate:
                how = f"killed by SIGKILL after {grace:g} s grace" if left <= 0 else "killed by SIGKILL"
                break
            self._wait_exit(min(left, 1.0))
        return self.kill(how)

    def kill(self, how: str = "killed by SIGKILL") -> ChildResult:
        _killpg_quietly(self.pgid, signal.SIGKILL)
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
            _forward_output(self.work.client.id, self.files, self.executor.log_cap)
        finally:
            self.files.remove()
            heapq.heappush(self.executor._free, self.number)
        return result

    def _classify(self, stopped_by: str | None, seconds: float) -> ChildResult:
        horse_status = _read_json(self.files.status)
        overdue = bool(horse_status and horse_status.pop("overdue", None))
        reported = _read_json(self.files.result) or {}
        if isinstance(self.work.handler, CommandHandler):
            result = _classify_command(horse_status, reported, self.files, seconds)
        else:
            result = _classify_python(horse_status, reported, seconds)
        if result.kind is ResultKind.SUCCEEDED and result.count is not None:
            return result  # work that reported its count finished before any stop reached it: done
        if stopped_by is None and overdue:
            stopped_by = f"{_describe_status(horse_status)} by its guard at the deadline (the runner was held up)"
        if stopped_by is None:
            return result
        return ChildResult(ResultKind.STOPPED, message=stopped_by, seconds=seconds)


def _describe_status(status: dict[str, Any] | None) -> str:
    if status is None:
        return "the worker vanished without an exit status"
    if "signal" in status:
        try:
            name = signal.Signals(int(status["signal"])).name
        except ValueError:
            name = f"signal {status['signal']}"
        return f"killed by {name}"
    return f"exited with code {status.get('exit')}"


def _classify_python(status: dict[str, Any] | None, reported: dict[str, Any], seconds: float) -> ChildResult:
    if status == {"exit": 0} and "count" in reported:
        count = reported["count"]
        message = None if count is not None else "the handler returned no count (None)"
        return ChildResult(ResultKind.SUCCEEDED, count=count, message=message, seconds=seconds)
    if "error" in reported:
        return ChildResult(ResultKind.FAILED, message=str(reported["error"]), seconds=seconds)
    return ChildResult(ResultKind.FAILED, message=_describe_status(status), seconds=seconds)


def _classify_command(
    status: dict[str, Any] | None, reported: dict[str, Any], files: _Files, seconds: float
) -> ChildResult:
    if "error" in reported:
        return ChildResult(ResultKind.FAILED, message=str(reported["error"]), seconds=seconds)
    if status != {"exit": 0}:
        detail = _last_line(files.err)
        message = _describe_status(status) + (f": {detail}" if detail else "")
        return ChildResult(ResultKind.FAILED, message=message, seconds=seconds)
    last = _last_line(files.out)
    count = _parse_count(last)
    if count is None:
        shown = (last[:120] + "...") if last and len(last) > 120 else last
        message = 'exited 0 without a final stdout line {"count": N}' + (
            f"; last line was {shown!r}" if shown else "; it printed nothing"
        )
        return ChildResult(ResultKind.SUCCEEDED, count=None, message=message, seconds=seconds)
    return ChildResult(ResultKind.SUCCEEDED, count=count, seconds=seconds)


def _parse_count(line: str | None) -> int | None:
    if not line:
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    count = data.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    return None


def _last_line(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None
    for line in reversed(tail.decode("utf-8", "replace").splitlines()):
        if line.strip():
            return line.strip()
    return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _forward_output(client_id: str, files: _Files, cap: int) -> None:
    """Copy the child's output into fnf's log, each line prefixed with the client.

    Past ``cap`` bytes the head and the tail are kept, half each, with the number of bytes left
    out between them: a failure's reason is usually at the end.
    """
    for path, label in ((files.out, "out"), (files.err, "err")):
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size == 0 or cap == 0:
            continue
        head, tail = _head_and_tail(path, size, cap)
        for line in head:
            child_log.info("[%s %s] %s", client_id, label, bounded(line, _LINE_MAX))
        if size > cap:
            child_log.info(
                "[%s %s] ... %d bytes of output not logged (FNF_CHILD_LOG_MAX_BYTES=%d keeps the first and last half)",
                client_id,
                label,
                size - cap,
                cap,
            )
        for line in tail:
            child_log.info("[%s %s] %s", client_id, label, bounded(line, _LINE_MAX))


def _head_and_tail(path: Path, size: int, cap: int) -> tuple[list[str], list[str]]:
    """The lines of a file of ``size`` bytes, or past ``cap`` those of its first and last halves
    (a line cut at a half's edge is dropped, unless it is the only one)."""
    with open(path, "rb") as handle:
        if size <= cap:
            return handle.read().decode("utf-8", "replace").splitlines(), []
        head = handle.read(cap // 2).decode("utf-8", "replace").splitlines()
        handle.seek(size - cap // 2)
        tail = handle.read().decode("utf-8", "replace").splitlines()
    return head[:-1] or head, tail[1:] or tail


def _killpg_quietly(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_quietly(pid: int, own_group: int) -> None:
    try:
        group = os.getpgid(pid)
        if group == pid and group != own_group:
            os.killpg(group, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# ---------------------------------------------------------------------------------------
# Child side. Everything below runs in forked processes and ends in os._exit.
# ---------------------------------------------------------------------------------------


def _guard_main(
    work: Work,
    files: _Files,
    lifeline: int,
    out_fd: int,
    err_fd: int,
    inherited: set[int],
    environ: dict[str, str],
) -> None:
    os.setsid()
    for fd in inherited:
        _close_quietly(fd)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    procs.become_subreaper()
    horse = os.fork()
    if horse == 0:
        code = 70
        try:
            _close_quietly(lifeline)
            reset_in_child()
            code = _horse_main(work, files, out_fd, err_fd, environ)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _close_quietly(out_fd)
    _close_quietly(err_fd)
    status = _guard_wait(horse, lifeline, work)
    _kill_descendants()  # what the work left behind ends with it, whether or not the runner lives
    tmp = files.status.with_suffix(".status.tmp")
    tmp.write_text(json.dumps(status))
    os.replace(tmp, files.status)
    os._exit(0)


def _guard_wait(horse: int, lifeline: int, work: Work) -> dict[str, int]:
    """Wait for the work to end and return how it ended.

    The guard keeps the deadline itself, a moment after the runner would (``_GUARD_SLACK``): a
    runner held up by a busy store, a slow disk or a stopped terminal cannot let a client overrun.
    """
    try:
        pidfd: int | None = os.pidfd_open(horse)
    except (AttributeError, OSError):
        pidfd = None
    term_at = work.deadline_monotonic + _GUARD_SLACK
    kill_at: float | None = None
    while True:
        now = time.monotonic()
        if kill_at is None and now >= term_at:
            os.killpg(0, signal.SIGTERM)  # the guard ignores SIGTERM; its work and the group get it
            kill_at = now + work.grace
        elif kill_at is not None and now >= kill_at:
            _kill_quietly(horse, -1)
        wake = (kill_at if kill_at is not None else term_at) - now
        fds = [lifeline] + ([pidfd] if pidfd is not None else [])
        try:
            readable, _, _ = select.select(fds, [], [], max(0.0, min(wake, _GUARD_POLL if pidfd is None else wake)))
        except InterruptedError:
            readable = []
        if lifeline in readable:
            # The runner is gone (EOF): nobody will record this work, so end it all now.
            _kill_descendants()
            os.killpg(0, signal.SIGKILL)
        pid, status = os.waitpid(horse, os.WNOHANG)
        if pid:
            ended = (
                {"signal": os.WTERMSIG(status)}
                if os.WIFSIGNALED(status)
                else {"exit": os.waitstatus_to_exitcode(status)}
            )
            return {**ended, "overdue": 1} if kill_at is not None else ended


def _kill_descendants() -> None:
    """Kill every descendant of this process, including ones that left the group with setsid.

    The guard is a subreaper, so a process that forks and exits to change its pid lands here
    again: keep listing, killing and reaping until none is left. A hopper can win one round,
    not a tight loop of them; the bound only keeps a kernel that hides children from hanging us.
    """
    me = os.getpid()
    deadline = time.monotonic() + _CLEANUP_SECONDS
    while time.monotonic() < deadline:
        found = procs.descendants_of(me)
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap_all()


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _horse_main(work: Work, files: _Files, out_fd: int, err_fd: int, environ: dict[str, str]) -> int:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    for fd in (devnull, out_fd, err_fd):
        if fd > 2:
            os.close(fd)
    if faulthandler.is_enabled():
        faulthandler.enable(file=sys.stderr)  # a crash's traceback goes to this client's log
    if isinstance(work.handler, PythonHandler):
        os.environ.update(environ)
        return _run_python(work, work.handler, files)
    _exec_command(work, work.handler, files, environ)
    return 127


def _run_python(work: Work, handler: PythonHandler, files: _Files) -> int:
    context = Context(
        job_type=work.job_type,
        job_id=work.job_id,
        run_id=work.run_id,
        stream=work.stream,
        deadline=work.deadline,
        deadline_monotonic=work.deadline_monotonic,
        progress_path=files.progress,
    )
    try:
        value = handler.func(work.client, context)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise TypeError(
                f"handler returned {value!r} ({type(value).__name__}); return the count as a whole number (or None)"
            )
        _write_result(files, {"count": value})
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 0:
            _write_result(files, {"count": None})
        else:
            _write_result(files, {"error": f"handler called sys.exit({exc.code!r})"})
    except BaseException as exc:
        traceback.print_exc()
        _write_result(files, {"error": f"{type(exc).__name__}: {exc}"})
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    return code


def _exec_command(work: Work, handler: CommandHandler, files: _Files, environ: dict[str, str]) -> None:
    values = placeholder_values(work.client, work.job_type, work.job_id, work.run_id)
    argv = handler.render(values)
    env = dict(environ)
    env.update({f"FNF_{key.upper()}": value for key, value in values.items()})
    env["FNF_DEADLINE"] = work.deadline.isoformat()
    env["FNF_PROGRESS_FILE"] = str(files.progress)
    try:
        os.execve(handler.executable, argv, env)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        _write_result(files, {"error": f"cannot run {argv[0]!r}: {reason}"})
        os._exit(127 if exc.errno == errno.ENOENT else 126)


def _write_result(files: _Files, data: dict[str, Any]) -> None:
    tmp = files.result.with_suffix(".result.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, files.result)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


OWN_THREAD_PREFIX = "fnf-"
"""fnf's own threads (the progress display, alert delivery) hold no lock a forked child needs."""


def _foreign_threads() -> int:
    return sum(
        1
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.name.startswith(OWN_THREAD_PREFIX)
    )
