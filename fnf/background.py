"""Runs started in the background (``fnf run --detach``, ``fnf serve``) and stopping them (``fnf stop``).

A background run is an ordinary ``fnf run`` in its own session (no controlling terminal, so it
survives logout and SIGHUP), with its output appended to a log file. Its run id is chosen here so
that the caller can report it at once; ``fnf status`` and ``fnf history`` show it like any run.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from fnf import host
from fnf.clock import SystemClock
from fnf.config import Settings
from fnf.errors import UsageError
from fnf.models import ALL, JobType, Lease, Outcome, job_id_for
from fnf.run import lease as leases
from fnf.run.observers import SilentObserver
from fnf.store import open_store

REPORT_WAIT_SECONDS = 20.0
"""How long a caller waits for a background run to say whether it took its stream."""


@dataclass(frozen=True)
class Started:
    run_id: str
    job_id: str
    pid: int
    log: Path
    process: subprocess.Popen[bytes] | None = None


def log_dir() -> Path:
    return Path(os.environ.get("FNF_LOG_DIR", "fnf-logs"))


def start(run_type: str, stream: int, args: Sequence[str] = (), *, report_fd: int | None = None) -> Started:
    """Start ``fnf run --type run_type --stream stream *args`` detached; return at once."""
    run_id = uuid.uuid4().hex
    short = "all" if run_type == ALL else JobType(run_type).short
    job_id = job_id_for(short, stream, SystemClock().now())
    directory = log_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = (directory / f"{job_id}_{run_id[:8]}.log").resolve()
    command = [
        sys.executable, "-m", "fnf", "run", "--type", run_type, "--stream", str(stream),
        *args, "--run-id", run_id, "--job-id", job_id,
    ]  # fmt: skip
    if report_fd is not None:
        command += ["--report-fd", str(report_fd)]
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # logs may name clients
    with os.fdopen(fd, "ab") as output, open(os.devnull, "rb") as nothing:
        child = subprocess.Popen(
            command,
            stdin=nothing,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            pass_fds=() if report_fd is None else (report_fd,),
        )
    return Started(run_id, job_id, child.pid, log, child)


@dataclass(frozen=True)
class Launch:
    """What a background run said about its start: ``started`` (it holds its stream and has its
    clients planned), a run outcome (``busy``, ``no_clients`` ...), ``exited`` (it ended before it
    could say, exit code known), or ``silent`` (it said nothing within the wait)."""

    started: Started
    state: str
    message: str
    exit_code: int | None = None
    planned: int | None = None


def launch(run_type: str, stream: int, args: Sequence[str] = (), *, wait: float = REPORT_WAIT_SECONDS) -> Launch:
    """Start a background run and wait (at most ``wait`` seconds) until it has taken its stream,
    or has ended without doing so: a caller never reports "started" for a run that does nothing."""
    read_end, write_end = os.pipe()
    try:
        started = start(run_type, stream, args, report_fd=write_end)
    finally:
        os.close(write_end)
    try:
        line = _read_line(read_end, wait)
    finally:
        os.close(read_end)
    if line is None:
        return Launch(started, "silent", f"the run did not report within {wait:g} s; it may still start")
    if line:
        said = json.loads(line)
        return Launch(started, str(said["state"]), str(said.get("message") or ""), planned=said.get("planned"))
    return _exited(started)


def _read_line(fd: int, wait: float) -> str | None:
    """The first line written to ``fd``: "" if the writer closed it unsaid, None if it said nothing in time."""
    deadline = time.monotonic() + wait
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return data.decode(errors="replace").strip()
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")


def _exited(started: Started) -> Launch:
    try:
        code = started.process.wait(timeout=10) if started.process is not None else None
    except subprocess.TimeoutExpired:
        code = None
    lines = [x for x in started.log.read_text(errors="replace").splitlines() if x.strip()]
    last = lines[-1] if lines else "no output"
    return Launch(started, "exited", last.removeprefix("fnf: error: "), exit_code=code)


class Announcer(SilentObserver):
    """Tells whoever started this run in the background, once, whether it took its stream."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def sweep_planned(self, total: int) -> None:
        self._say({"state": "started", "planned": total})

    def run_ended(self, outcome: Outcome, summary: str, exit_code: int) -> None:
        self._say({"state": outcome.value, "message": summary})

    def _say(self, document: dict[str, object]) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.write(fd, (json.dumps(document) + "\n").encode())
        except OSError:
            pass  # the caller stopped waiting; the run goes on
        finally:
            os.close(fd)


def find_live(settings: Settings, run_ref: str) -> Lease:
    """The live lease of the run whose id (or job id, or id prefix of 8+ characters) is ``run_ref``."""
    with closing(open_store(settings)) as store:
        held = store.leases()
        runs = {r.run_id: r for r in store.runs(limit=500)}
    for lease in held:
        run_id = lease.holder.run_id
        job_id = runs[run_id].job_id if run_id in runs else None
        if run_ref in (run_id, job_id) or (len(run_ref) >= 8 and run_id.startswith(run_ref)):
            return lease
    raise UsageError(f"no live run has id {run_ref!r}: see the running ones with fnf status (live run column)")


def stop(settings: Settings, run_ref: str, *, wait: float = 0.0) -> str:
    """SIGTERM the run's process (the same clean stop as a scheduler's SIGTERM); optionally wait for it."""
    lease = find_live(settings, run_ref)
    holder = lease.holder
    alive = host.holder_alive(holder)
    if alive is None:
        raise UsageError(
            f"run {holder.run_id} runs on host {holder.host} (pid {holder.pid}): stop it there with fnf stop, "
            "or with SIGTERM to that process"
        )
    if not alive:
        raise UsageError(
            f"run {holder.run_id} is no longer running (it died without recording its end): "
            f"fnf reset --type {lease.job_type.value} --stream {lease.stream} releases its stream"
        )
    note = host.stop_note(holder.run_id)
    note.write_text("an operator (fnf stop)")
    if not host.kill_holder(holder, signal.SIGTERM):
        note.unlink(missing_ok=True)
        raise UsageError(f"run {holder.run_id} ended just now: see fnf history for how")
    if wait > 0:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and host.holder_alive(holder):
            time.sleep(0.1)
        if host.holder_alive(holder):
            return f"asked run {holder.run_id} (pid {holder.pid}) to stop; it is still stopping after {wait:g} s"
        return f"run {holder.run_id} stopped (pid {holder.pid}); see fnf history for where it stopped"
    now = SystemClock().now()
    return f"asked run {holder.run_id} to stop ({leases.describe(lease, now)})"
