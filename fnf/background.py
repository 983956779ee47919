"""Runs started in the background (``fnf run --detach``, ``fnf serve``) and stopping them (``fnf stop``).

A background run is an ordinary ``fnf run`` in its own session (no controlling terminal, so it
survives logout and SIGHUP), with its output appended to a log file. Its run id is chosen here so
that the caller can report it at once; ``fnf status`` and ``fnf history`` show it like any run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from fnf import lease as leases
from fnf import procs
from fnf.clock import SystemClock
from fnf.config import Settings
from fnf.errors import UsageError
from fnf.models import ALL, JobType, Lease, job_id_for
from fnf.store import open_store


@dataclass(frozen=True)
class Started:
    run_id: str
    job_id: str
    pid: int
    log: Path


def log_dir() -> Path:
    return Path(os.environ.get("FNF_LOG_DIR", "fnf-logs"))


def start(run_type: str, stream: int, args: Sequence[str] = ()) -> Started:
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
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # logs may name clients
    with os.fdopen(fd, "ab") as output, open(os.devnull, "rb") as nothing:
        child = subprocess.Popen(
            command, stdin=nothing, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True
        )
    return Started(run_id, job_id, child.pid, log)


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
    alive = procs.holder_alive(holder)
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
    os.kill(holder.pid, signal.SIGTERM)
    if wait > 0:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and procs.holder_alive(holder):
            time.sleep(0.1)
        if procs.holder_alive(holder):
            return f"asked run {holder.run_id} (pid {holder.pid}) to stop; it is still stopping after {wait:g} s"
        return f"run {holder.run_id} stopped (pid {holder.pid}); see fnf history for where it stopped"
    now = SystemClock().now()
    return f"asked run {holder.run_id} to stop ({leases.describe(lease, now)})"
