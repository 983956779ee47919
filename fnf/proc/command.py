"""A command handler's work: spawned by the process server, and what it leaves behind.

A command is started with ``posix_spawn`` (vfork and exec) straight from the server, in its own
session, with default signal handling and its output in its files. Forking a spare interpreter and
exec'ing from it cost 0.85 ms more per client: the fork copies the interpreter's page tables and the
exec tears them down again.

The price is what a spawned process cannot be given before it runs: it is not a subreaper, and it
does not die by the kernel's hand with the server. So:

* what a command abandons while it runs (a daemon, its parent gone) comes to the server; the server
  tells whose it is by the work's marks in its environment (``owner_of``) and leaves it to that
  work until the work ends, then kills it with the rest of what the work left;
* if the server dies, the runner (a subreaper) inherits the commands and kills them, as it kills
  everything else a dead server leaves (``ProcessExecutor.sweep_orphans``).
"""

from __future__ import annotations

import errno
import os
import signal
from functools import cache

from fnf.handlers import CommandHandler, placeholder_values
from fnf.proc.work import Work, WorkFiles

OWNER_KEYS = (b"FNF_RUN_ID", b"FNF_JOB_ID", b"FNF_CLIENT_ID")
"""The environment variables that say whose work a process is (every command and what it starts
inherits them)."""

Owner = tuple[str, str, str]


class SpawnError(OSError):
    """The command could not be started; ``code`` is the exit code a shell would give (127, 126)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def owner(work: Work) -> Owner:
    return work.run_id, work.job_id, work.client.id


def spawn(work: Work, handler: CommandHandler, files: WorkFiles, environ: dict[str, str]) -> int:
    """Start the command of ``work`` in its own session; its pid. Raises ``SpawnError``."""
    values = placeholder_values(work.client, work.job_type, work.job_id, work.run_id)
    argv = handler.render(values)
    env = dict(environ)
    env.update({f"FNF_{key.upper()}": value for key, value in values.items()})
    env["FNF_DEADLINE"] = work.deadline.isoformat()
    env["FNF_PROGRESS_FILE"] = str(files.progress)
    writing = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        return os.posix_spawn(
            handler.executable,
            argv,
            env,
            setsid=True,
            setsigmask=(),
            setsigdef=_ignored_signals(),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(files.out), writing, 0o600),
                (os.POSIX_SPAWN_OPEN, 2, str(files.err), writing, 0o600),
            ],
        )
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise SpawnError(f"cannot run {argv[0]!r}: {reason}", 127 if exc.errno == errno.ENOENT else 126) from exc
    except NotImplementedError as exc:  # a C library without posix_spawn's setsid
        raise SpawnError(
            f"cannot run {argv[0]!r}: this system's C library cannot start a process in a session of its "
            "own with posix_spawn (fnf needs glibc 2.26 or newer, or musl 1.1.24 or newer)",
            126,
        ) from exc


@cache
def _ignored_signals() -> tuple[int, ...]:
    """The signals this process ignores (Python ignores SIGPIPE and SIGXFSZ; the server also
    SIGTERM, SIGINT and SIGHUP): an exec keeps them ignored unless they are reset."""
    ignored = []
    for signum in signal.valid_signals():
        try:
            if signal.getsignal(signum) is signal.SIG_IGN:
                ignored.append(signum)
        except (OSError, ValueError):
            continue
    return tuple(ignored)


def owner_of(pid: int) -> Owner | None:
    """Whose work ``pid`` is, from the environment it was started with; None if it cannot be told
    (gone, not ours to read, or its environment does not say)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    found: dict[bytes, str] = {}
    for entry in raw.split(b"\0"):
        key, _, value = entry.partition(b"=")
        if key in OWNER_KEYS:
            found[key] = value.decode("utf-8", "replace")
    if len(found) != len(OWNER_KEYS):
        return None
    return found[b"FNF_RUN_ID"], found[b"FNF_JOB_ID"], found[b"FNF_CLIENT_ID"]
