"""Handlers that misbehave on purpose, for the watchdog and acceptance tests.

Behaviour comes from the client's fields: ``mode`` picks what to do, ``pids`` names a file
where every process involved appends its pid (so tests can prove they are gone), ``ledger``
names a file where a completed piece of work appends the client id.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from fnf.handlers import AuthFailed, BadData, Context
from fnf.models import Client


def _note_pid(client: Client, pid: int | None = None) -> None:
    path = client.fields.get("pids") or os.environ.get("FNF_TEST_PIDS")
    if path:
        with open(path, "a") as handle:
            handle.write(f"{pid or os.getpid()}\n")


def _ledger(client: Client) -> None:
    path = client.fields.get("ledger") or os.environ.get("FNF_TEST_LEDGER")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{client.id}\n".encode())
        os.close(fd)


def _span(client: Client, began: float) -> None:
    """When the work ran (``FNF_TEST_SPANS``), on the monotonic clock (which no skewed or stepped
    wall clock moves), so tests can count how many clients overlapped."""
    path = os.environ.get("FNF_TEST_SPANS")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{client.id} {began:.6f} {time.monotonic():.6f}\n".encode())
        os.close(fd)


def _wait_for_gate(gate: str) -> None:
    began = time.time()
    open(gate + ".waiting", "w").close()
    while not os.path.exists(gate):
        if time.time() - began > 120:
            raise RuntimeError("the test never opened the gate")
        time.sleep(0.02)


def _hop(client: Client, until: float) -> None:
    """Change pid and session every few milliseconds until ``until``; never returns."""
    while time.time() < until:
        if os.fork():
            os._exit(0)
        os.setsid()
        _note_pid(client)
        time.sleep(float(os.environ.get("FNF_TEST_HOP_SECONDS", "0.001")))
    os._exit(0)


def work(client: Client, ctx: Context) -> int | None:
    mode = client.fields.get("mode", "ok")
    seconds = float(client.fields.get("seconds", "0") or 0)
    _note_pid(client)
    if mode == "ok":
        began = time.monotonic()
        time.sleep(seconds)
        _span(client, began)
        _ledger(client)
        return int(client.fields.get("count", "3") or 3)
    if mode == "gate":  # in flight until the test opens the gate: a deterministic "during a run"
        began = time.monotonic()
        _wait_for_gate(os.environ["FNF_TEST_GATE"])
        _span(client, began)
        _ledger(client)
        return 1
    if mode == "hang":
        time.sleep(3600)
    if mode == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
    if mode == "busy":
        while True:
            pass
    if mode == "grandchild_stdout":
        child = subprocess.Popen(["sleep", "3600"])  # inherits stdout and stderr
        _note_pid(client, child.pid)
        time.sleep(3600)
    if mode == "grandchild_stdout_exit":
        child = subprocess.Popen(["sleep", "3600"])
        _note_pid(client, child.pid)
        return 5
    if mode == "escape":
        child = subprocess.Popen(["sleep", "3600"], start_new_session=True)
        _note_pid(client, child.pid)
        time.sleep(3600)
    if mode == "hop":  # forks, exits and calls setsid, again and again: the work itself hops
        if "FNF_TEST_GATE" in os.environ:
            _wait_for_gate(os.environ["FNF_TEST_GATE"])
        _hop(client, time.time() + seconds)
    if mode == "hop_below":  # the same, one level down, while the work itself waits
        if os.fork() == 0:
            _hop(client, time.time() + seconds)
        time.sleep(3600)
    if mode == "flood":
        block = ("x" * 1023 + "\n").encode()
        for _ in range(20 * 1024):
            os.write(1, block)
        return 20
    if mode == "fail":
        raise RuntimeError(f"upstream rejected {client.name}")
    if mode == "auth":
        raise AuthFailed("the CRM refused the token")
    if mode == "bad_data":
        raise BadData(f"{client.name} has no email address")
    if mode == "exit75":
        sys.exit(75)
    if mode == "exit3":
        sys.stdout.flush()
        os._exit(3)
    if mode == "abort":
        os.abort()
    if mode == "bad_return":
        return "twelve"  # type: ignore[return-value]
    if mode == "progress":
        ctx.progress(2, 5, "half way")
        time.sleep(seconds)
        return 5
    raise ValueError(f"unknown test mode {mode!r}")
