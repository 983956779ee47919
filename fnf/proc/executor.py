"""Running clients' work through the process server, and stopping it without fail.

Process layout (``fnf.proc.server`` says what each process guarantees)::

    runner (child subreaper)
      └─ server (started once per run: a fresh interpreter with only the handler imported)
           └─ work (one per client: own session and group, a subreaper, dies with the server)
                └─ whatever the work starts

* The runner holds the only write end of the server's command pipe. If the runner dies in any
  way, SIGKILL included, the server reads EOF and kills every work tree at once.
* At a deadline the runner asks the server to SIGTERM the work's group, waits the grace period,
  then asks for SIGKILL. The server also keeps each deadline itself, a moment later.
* Output goes to files, never to a pipe the runner must drain: a grandchild that keeps stdout
  open or a child that writes 20 MB cannot stall the runner.
* If the server dies, the works die with it; what they started re-parents to the runner, which
  kills it, and the run fails (``ProcessServerError``) so the next run redoes the clients in flight.
"""

from __future__ import annotations

import heapq
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fnf
from fnf.errors import ProcessServerError
from fnf.handlers import CommandHandler
from fnf.proc import linux as procs
from fnf.proc import wire
from fnf.proc.linux import kill_quietly, reap_quietly
from fnf.proc.outcome import classify_command, classify_python, describe_status, forward_output
from fnf.proc.signals import StopFlag
from fnf.proc.work import ChildResult, ResultKind, Work, WorkFiles

_SWEEP_SECONDS = 2.0
_SERVER_MAIN = "import sys; sys.path.insert(0, sys.argv[1]); import fnf.proc.server as s; s.main()"
"""The server's start: this fnf first on the path (the runner's whole path follows in ``hello``)."""
_KILL_WAIT_SECONDS = 10.0
"""How long a kill waits for the server to report the end before the server itself is killed."""


class ProcessExecutor:
    """Starts work through one process server; one instance per run."""

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
        self._children: dict[int, WatchedChild] = {}
        self._server: _Link | None = None
        if reap_orphans:
            procs.become_subreaper()

    def prepare(self) -> None:
        """Start the process server now, so that it loads while the first start is written."""
        self._link()

    def start(self, work: Work) -> WatchedChild:
        link = self._link()
        if self._free:
            number = heapq.heappop(self._free)
        else:
            self._seq += 1
            number = self._seq
        files = WorkFiles.in_dir(self.workdir, number)
        files.remove()  # nothing an earlier client left may be read as this one's result
        child = WatchedChild(self, work, files, number)
        self._children[number] = child
        link.send(wire.start_message(number, work, files))
        return child

    def wait_any(self, children: Sequence[object], timeout: float) -> None:
        """Block until one of ``children`` ends, a signal reaches the runner, or ``timeout`` passes."""
        if any(child.ended for child in children if isinstance(child, WatchedChild)):
            return
        server = self._server.fd if self._server is not None else None
        _wait_for(timeout, server, self.stop.fileno())
        if self._server is not None:
            self._pump(block=False)
        self.stop.drain()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the server (it exits when its command pipe closes) and reap it."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def _link(self) -> _Link:
        if self._server is None:
            self._server = _Link.start(self.environ)
        return self._server

    def _pump(self, *, block: bool, timeout: float | None = None) -> None:
        """Read the server's reports; an end marks its child ended."""
        link = self._link()
        for message in link.receive(block=block, timeout=timeout):
            child = self._children.pop(message["n"], None)
            if child is not None:
                child.ended = True
                child.status, child.reported = message.get("status"), message.get("result") or {}
        if link.gone:
            self._server_died(link)

    def _server_died(self, link: _Link) -> None:
        status = link.close()
        for child in self._children.values():
            child.ended = True
        self._children.clear()
        self._server = None
        self.sweep_orphans()
        raise ProcessServerError(
            f"fnf's process server (pid {link.pid}) ended during the run ({status}): the clients in flight "
            "were stopped; the next run starts them again first"
        )

    def wait_for(self, child: WatchedChild) -> None:
        """Block until the server reports ``child``'s end (after a kill: promptly)."""
        deadline = time.monotonic() + _KILL_WAIT_SECONDS
        while not child.ended and self._server is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                self._server.kill()  # held up (stopped?): its death takes every work with it
            self._pump(block=True, timeout=max(0.0, left) or 1.0)

    def tell(self, op: str, child: WatchedChild) -> None:
        """Ask the server to ``term`` or ``kill`` the work of ``child``."""
        if self._server is not None:
            self._server.send({"op": op, "n": child.number})

    def forget(self, child: WatchedChild) -> None:
        self._children.pop(child.number, None)
        heapq.heappush(self._free, child.number)

    def sweep_orphans(self) -> None:
        """Kill and reap every child of the runner that is not the server (a dead server's
        orphans: while it lives, what work leaves behind goes to it)."""
        if not self.reap_orphans:
            return
        own_group = os.getpgrp()
        server = self._server.pid if self._server is not None else None
        deadline = time.monotonic() + _SWEEP_SECONDS
        while time.monotonic() < deadline:
            strays = [p for p in procs.children_of(os.getpid()) if p != server]
            if not strays:
                break
            for pid in strays:
                kill_quietly(pid, own_group)
                reap_quietly(pid)
            time.sleep(0.005)


class WatchedChild:
    """One running piece of work, seen from the runner."""

    def __init__(self, executor: ProcessExecutor, work: Work, files: WorkFiles, number: int) -> None:
        self.executor = executor
        self.number = number
        self.work = work
        self.files = files
        self.started = time.monotonic()
        self.ended = False
        """The server reported the end: the work and all it started are gone."""
        self.status: dict[str, Any] | None = None
        """How the work's process ended (``exit`` or ``signal``, ``overdue``), as the server saw it."""
        self.reported: dict[str, Any] = {}
        """What the work reported: its count, or its error and failure kind."""
        self._stopped_by: str | None = None
        self._result: ChildResult | None = None

    # -- waiting -------------------------------------------------------------------------
    def wait(self, timeout: float) -> ChildResult | None:
        """Wait up to ``timeout`` seconds. Returns the result if the work ended, else None.

        Returns early, with None, when a signal reaches the runner.
        """
        if not self.ended:
            self.executor.wait_any([self], timeout)
        return self._finish(self._stopped_by) if self.ended else None

    # -- stopping ------------------------------------------------------------------------
    def terminate(self) -> None:
        """SIGTERM to the group without waiting; the result then says the work was stopped.

        The runner uses this with :meth:`kill` to stop several children at once, each on its
        own grace period, instead of blocking on one.
        """
        if self._stopped_by is None:
            self._stopped_by = "stopped by SIGTERM"
            self.executor.tell("term", self)

    def kill(self, how: str = "killed by SIGKILL") -> ChildResult:
        if not self.ended:
            self.executor.tell("kill", self)
            self.executor.wait_for(self)
        return self._finish(stopped_by=how)

    # -- results -------------------------------------------------------------------------
    def progress(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.files.progress.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _finish(self, stopped_by: str | None) -> ChildResult:
        if self._result is not None:
            return self._result
        seconds = time.monotonic() - self.started
        self.executor.forget(self)
        try:
            result = self._classify(stopped_by, seconds)
            forward_output(self.work.client.id, self.files, self.executor.log_cap)
        finally:
            self.files.remove()
        self._result = result
        return result

    def _classify(self, stopped_by: str | None, seconds: float) -> ChildResult:
        horse_status = dict(self.status) if self.status is not None else None
        overdue = bool(horse_status and horse_status.pop("overdue", None))
        reported = self.reported
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


class _Link:
    """The runner's end of the server: its process, the command pipe, the report pipe."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self.pid = proc.pid
        self.fd = proc.stdout.fileno()
        self._commands = proc.stdin.fileno()
        os.set_blocking(self.fd, False)
        self._pending = b""
        self.gone = False

    @classmethod
    def start(cls, environ: dict[str, str]) -> _Link:
        home = str(Path(fnf.__file__).resolve().parents[1])
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER_MAIN, home],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
        link = cls(proc)
        link.send({"op": "hello", "environ": environ, "path": sys.path})
        return link

    def send(self, message: dict[str, Any]) -> None:
        data = wire.line(message)
        try:
            while data:
                data = data[os.write(self._commands, data) :]
        except BrokenPipeError:
            self.gone = True

    def receive(self, *, block: bool, timeout: float | None = None) -> list[dict[str, Any]]:
        if block:
            _wait_for(timeout, self.fd)
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        if not chunk:
            self.gone = True
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        return [json.loads(raw) for raw in lines]

    def kill(self) -> None:
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass

    def close(self) -> str:
        """Close the command pipe (the server then exits) and reap it; how it ended."""
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        try:
            code = self.proc.wait(timeout=_SWEEP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


def _wait_for(timeout: float | None, *fds: int | None) -> None:
    watched = [fd for fd in fds if fd is not None]
    if not watched:
        time.sleep(max(0.0, timeout or 0.0))
        return
    try:
        select.select(watched, [], [], None if timeout is None else max(0.0, timeout))
    except InterruptedError:
        pass
