"""The child side of the fork: the guard and the horse. Everything here runs in forked
processes and ends in ``os._exit``.

The guard is a subreaper in its own session: it watches the runner's lifeline, keeps the
deadline itself, and kills every descendant of the work before it reports how the work ended.
"""

from __future__ import annotations

import errno
import faulthandler
import json
import os
import select
import signal
import sys
import time
import traceback
from typing import Any

from fnf.handlers import CommandHandler, Context, HandlerFailure, PythonHandler, placeholder_values
from fnf.proc import linux as procs
from fnf.proc.linux import kill_quietly
from fnf.proc.signals import reset_in_child
from fnf.proc.work import Work, WorkFiles

_GUARD_POLL = 0.5
_CLEANUP_SECONDS = 30.0
_GUARD_SLACK = 1.0
"""Seconds past a client's deadline after which its guard stops it, if the runner has not."""


def guard_main(
    work: Work,
    files: WorkFiles,
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
            kill_quietly(horse, -1)
            kill_at = now + _GUARD_POLL  # SIGKILL is sent: wait for the exit, do not spin
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


def _horse_main(work: Work, files: WorkFiles, out_fd: int, err_fd: int, environ: dict[str, str]) -> int:
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


def _run_python(work: Work, handler: PythonHandler, files: WorkFiles) -> int:
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
    except HandlerFailure as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        after = getattr(exc, "after", None)
        _write_result(files, {"error": str(exc) or type(exc).__name__, "kind": exc.kind.value, "after": after})
        code = 1
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


def _exec_command(work: Work, handler: CommandHandler, files: WorkFiles, environ: dict[str, str]) -> None:
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


def _write_result(files: WorkFiles, data: dict[str, Any]) -> None:
    tmp = files.result.with_suffix(".result.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, files.result)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
