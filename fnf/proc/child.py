"""A Python handler's work, in the process the server forked for it. Everything here ends in
``os._exit``. (A command is spawned instead: ``fnf.proc.command``.)

The work runs in its own session and process group, is a subreaper (what it starts and abandons
stays in its tree, so the server knows whose it was), and dies with the server.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import traceback
from typing import Any, NoReturn

from fnf.handlers import Context, HandlerFailure, PythonHandler
from fnf.proc import linux as procs
from fnf.proc.signals import reset_in_child
from fnf.proc.work import Work, WorkFiles


def prepare(server: int, close: tuple[int, ...]) -> None:
    """Make this freshly forked process a work's: its own session, killed with the server, a
    subreaper, none of the server's descriptors (``close``), default signal handling."""
    os.setsid()
    if not procs.die_with_parent(server):
        os._exit(70)  # the server is already gone: nobody would watch this work
    procs.become_subreaper()
    for fd in close:
        _close_quietly(fd)
    reset_in_child()


def run_work(work: Work, files: WorkFiles, result: int) -> NoReturn:
    """Run a Python handler's work in this prepared process, its result going to the pipe ``result``
    (a command is spawned instead: ``fnf.proc.command``)."""
    code = 70
    try:
        out_fd = os.open(files.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err_fd = os.open(files.err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        code = _horse_main(work, files, result, out_fd, err_fd)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _horse_main(work: Work, files: WorkFiles, result: int, out_fd: int, err_fd: int) -> int:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    for fd in (devnull, out_fd, err_fd):
        if fd > 2:
            os.close(fd)
    if faulthandler.is_enabled():
        faulthandler.enable(file=sys.stderr)  # a crash's traceback goes to this client's log
    if not isinstance(work.handler, PythonHandler):
        raise TypeError(f"a forked work runs a Python handler, not {work.handler!r}")
    return _run_python(work, work.handler, files, result)


def rehearse(work: Work, files: WorkFiles) -> None:
    """Build, and throw away, what running ``work`` builds before its handler is called.

    A forked process copies each page of the server's the first time it writes to it, and
    reference counts write to every object touched: the first build of a work's objects costs
    some twenty-five times the next. A spare does it once on a sample while it waits, off the path of the
    client it will run.
    """
    _context(work, files)
    json.dumps({"count": 0})


def _context(work: Work, files: WorkFiles) -> Context:
    return Context(
        job_type=work.job_type,
        job_id=work.job_id,
        run_id=work.run_id,
        stream=work.stream,
        deadline=work.deadline,
        deadline_monotonic=work.deadline_monotonic,
        progress_path=files.progress,
    )


def _run_python(work: Work, handler: PythonHandler, files: WorkFiles, result: int) -> int:
    context = _context(work, files)
    try:
        value = handler.func(work.client, context)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise TypeError(
                f"handler returned {value!r} ({type(value).__name__}); return the count as a whole number (or None)"
            )
        write_result(result, {"count": value})
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 0:
            write_result(result, {"count": None})
        else:
            write_result(result, {"error": f"handler called sys.exit({exc.code!r})"})
    except HandlerFailure as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        after = getattr(exc, "after", None)
        write_result(result, {"error": str(exc) or type(exc).__name__, "kind": exc.kind.value, "after": after})
        code = 1
    except BaseException as exc:
        traceback.print_exc()
        write_result(result, {"error": f"{type(exc).__name__}: {exc}"})
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    return code


RESULT_LIMIT = 65536
"""Characters of an error message kept: a result is one message on the server's pipe, not a log."""


def write_result(fd: int, data: dict[str, Any]) -> None:
    """What the work reports (its count, or why it failed), written to the server's pipe."""
    error = data.get("error")
    if isinstance(error, str) and len(error) > RESULT_LIMIT:
        data = {**data, "error": error[: RESULT_LIMIT // 2] + " ... " + error[-RESULT_LIMIT // 2 :]}
    payload = json.dumps(data).encode()
    while payload:
        payload = payload[os.write(fd, payload) :]


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
