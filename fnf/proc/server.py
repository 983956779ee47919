"""The process server: started once per run, it starts each client's work and watches it.

Forking the runner for every client costs time in proportion to the runner's memory (which grows
with the stream) and a guard process per client doubled it. The server is a fresh interpreter that
has imported only the handler; it forks a Python handler's work (a spare forked ahead), spawns a
command's (``fnf.proc.command``), and is their watchdog::

    runner (child subreaper)
      └─ server (own session; subreaper; ignores SIGTERM, SIGINT and SIGHUP)
           ├─ Python work (own session and process group; subreaper; dies with the server)
           │    └─ whatever the work starts, escapees included
           └─ command (own session and process group)
                └─ whatever it starts (what it abandons comes to the server, marked as its)

* The runner's death (SIGKILL included) closes the command pipe: the server kills every work tree
  and exits.
* The server's death kills every Python work (parent-death signal); commands, and what any work
  started, re-parent to the runner, which kills them and fails the run.
* The server keeps each deadline itself, a moment after the runner would (``SLACK``): a runner held
  up by a busy store or a stopped terminal cannot let a client overrun.
* When a work ends, its group is killed before it is reaped (its id cannot be reused meanwhile),
  then every process it left behind, before the end is reported (``fnf.proc.cleanup``).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fnf.handlers import CommandHandler, Handler, resolve
from fnf.proc import cleanup, command, wire
from fnf.proc import linux as procs
from fnf.proc.child import prepare, rehearse, run_work
from fnf.proc.linux import killpg_quietly

SLACK = 1.0
"""Seconds past a client's deadline after which the server stops it, if the runner has not."""


@dataclass
class _Watch:
    number: int
    pid: int
    result: int
    """The read end of the pipe the work reports its result on (-1 once it is closed)."""
    term_at: float
    grace: float
    kill_at: float | None = None
    overdue: bool = False
    """The server had to stop it: the runner did not, in time."""
    reported: bytes = b""
    owner: command.Owner | None = None
    """A command's marks (a spawned command is no subreaper: what it abandons comes to the server)."""


@dataclass(frozen=True)
class _Spare:
    """A process forked ahead of the next start, waiting for its work on ``assign``."""

    pid: int
    assign: int
    result: int


class Server:
    def __init__(self, commands: int, replies: int, environ: dict[str, str], pending: bytes = b"") -> None:
        self.commands, self.replies, self.environ = commands, replies, environ
        self.watches: dict[int, _Watch] = {}
        self.pids: dict[int, int] = {}
        self.handlers: dict[tuple[str, str], Handler] = {}
        self.pending = pending
        self.spare: _Spare | None = None
        self.sample: bytes | None = None
        """The last start message: what a spare rehearses on while it waits for its own."""
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)

    def serve(self) -> None:
        gc.freeze()  # a work's collections must not touch (and so copy) the server's pages
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self._feed(b"")
        while True:
            results = {w.result: w for w in self.watches.values() if w.result >= 0}
            try:
                readable, _, _ = select.select([self.commands, self.wake_r, *results], [], [], self._next_timer())
            except InterruptedError:
                readable = []
            if self.wake_r in readable:
                _drain(self.wake_r)
            for fd in readable:
                if fd in results:
                    _read_result(results[fd])
            if self.commands in readable and not self._read_commands():
                break
            self._reap()
            self._keep_deadlines()
        self._shutdown()

    # -- commands ----------------------------------------------------------------------
    def _read_commands(self) -> bool:
        chunk = os.read(self.commands, 65536)
        if not chunk:
            return False  # the runner is gone: nobody will record this work
        self._feed(chunk)
        return True

    def _feed(self, chunk: bytes) -> None:
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        for raw in lines:
            self._command(json.loads(raw), raw)

    def _command(self, message: dict[str, Any], raw: bytes) -> None:
        op = message["op"]
        if op == "start":
            self._start(message, raw + b"\n")
            return
        watch = self.watches.get(self.pids.get(message["n"], -1))
        if watch is None:
            return  # it has ended; its end is on its way to the runner
        if op == "term":
            killpg_quietly(watch.pid, signal.SIGTERM)
            watch.kill_at = time.monotonic() + watch.grace + SLACK  # the runner kills first; this backs it
        elif op == "kill":
            killpg_quietly(watch.pid, signal.SIGKILL)

    def _start(self, message: dict[str, Any], raw: bytes) -> None:
        """Start one client's work and watch it."""
        try:
            handler = self._handler(message)
        except Exception as exc:  # the runner resolved it; report rather than die if this copy cannot
            result = {"error": f"the process server cannot load the handler: {exc}"}
            self._report(message["n"], {"exit": 70}, result)
            return
        _, deadline_monotonic, grace = message["deadline"]
        if isinstance(handler, CommandHandler):
            watch = self._spawn(message, handler, deadline_monotonic + SLACK, grace)
            if watch is not None:
                self._watch(watch)
            return
        pid, result_fd = self._start_python(message, handler, raw)
        self._watch(_Watch(message["n"], pid, result_fd, deadline_monotonic + SLACK, grace))
        self._fork_spare()  # after the watch: the spare must not inherit this work's result pipe

    def _watch(self, watch: _Watch) -> None:
        self.watches[watch.pid] = watch
        self.pids[watch.number] = watch.pid

    def _spawn(self, message: dict[str, Any], handler: CommandHandler, term_at: float, grace: float) -> _Watch | None:
        """Spawn a command's work (``fnf.proc.command``); None if it could not start (reported)."""
        work, files = wire.work_of(message, handler)
        try:
            pid = command.spawn(work, handler, files, self.environ)
        except command.SpawnError as exc:
            self._report(message["n"], {"exit": exc.code}, {"error": str(exc)})
            return None
        return _Watch(message["n"], pid, -1, term_at, grace, owner=command.owner(work))

    def _start_python(self, message: dict[str, Any], handler: Handler, raw: bytes) -> tuple[int, int]:
        """Hand the message as it came to the spare, if there is one (the work is rebuilt in its
        process, off the server's path), else fork."""
        self.sample = raw
        if self.spare is not None:
            return self._hand_over(self.spare, raw)
        work, files = wire.work_of(message, handler)
        return self._fork(lambda result: run_work(work, files, result))

    def _hand_over(self, spare: _Spare, raw: bytes) -> tuple[int, int]:
        """Give the waiting spare its work (a spare that died meanwhile ends as a crash)."""
        self.spare = None
        try:
            os.write(spare.assign, raw)
        except BrokenPipeError:
            pass
        os.close(spare.assign)
        return spare.pid, spare.result

    def _fork_spare(self) -> None:
        """Fork the next client's process now, while this one runs: the fork (milliseconds, in
        proportion to the server's memory) is then off the next client's path."""
        if self.spare is not None:
            return
        assign_read, assign_write = os.pipe()
        pid, result_fd = self._fork(lambda result: self._spare_main(assign_read, result), assign_write)
        os.close(assign_read)
        self.spare = _Spare(pid, assign_write, result_fd)

    def _spare_main(self, assign: int, result: int) -> None:
        if self.sample is not None:
            try:
                sample = json.loads(self.sample)
                rehearse(*wire.work_of(sample, self._handler(sample)))
            except Exception:  # only a head start: the work itself reports what is wrong
                pass
        message = wire.read_line(assign)
        if message is None:
            os._exit(0)  # the server is shutting down
        os.close(assign)
        work, files = wire.work_of(message, self._handler(message))
        run_work(work, files, result)

    def _fork(self, body: Callable[[int], None], *close: int) -> tuple[int, int]:
        """Fork a work's process that runs ``body(result_fd)``; its pid and the result's read end."""
        read_end, write_end = os.pipe()
        own = (self.commands, self.replies, self.wake_r, self.wake_w, read_end, *close, *self._pipes())
        server = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the work's process
            try:
                prepare(server, own)
                body(write_end)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(70)
        os.close(write_end)
        os.set_blocking(read_end, False)
        return pid, read_end

    def _pipes(self) -> tuple[int, ...]:
        """The server's ends of every work's and the spare's pipes (a new work must not hold them)."""
        ends = [w.result for w in self.watches.values() if w.result >= 0]
        if self.spare is not None:
            ends += [self.spare.assign, self.spare.result]
        return tuple(ends)

    def _handler(self, message: dict[str, Any]) -> Handler:
        _, kind, value, _ = message["handler"]
        handler = self.handlers.get((kind, value))
        if handler is None:
            handler = self.handlers[kind, value] = resolve(wire.spec_of(message), self.environ)
            gc.freeze()  # what the handler imported stays shared with every work forked after
        return handler

    # -- watching ----------------------------------------------------------------------
    def _next_timer(self) -> float | None:
        times = [w.kill_at if w.kill_at is not None else w.term_at for w in self.watches.values()]
        return max(0.0, min(times) - time.monotonic()) if times else None

    def _keep_deadlines(self) -> None:
        now = time.monotonic()
        for watch in self.watches.values():
            if watch.kill_at is None and now >= watch.term_at:
                killpg_quietly(watch.pid, signal.SIGTERM)
                watch.overdue = True
                watch.kill_at = now + watch.grace
            elif watch.kill_at is not None and now >= watch.kill_at:
                killpg_quietly(watch.pid, signal.SIGKILL)
                watch.kill_at = now + 0.5  # SIGKILL is sent: wait for the exit, do not spin

    def _reap(self) -> None:
        while True:
            try:
                ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if ended is None:
                return
            watch = self.watches.pop(ended.si_pid, None)
            if watch is not None:
                killpg_quietly(watch.pid, signal.SIGKILL)  # before the reap: the group id is still ours
            _, status = os.waitpid(ended.si_pid, 0)
            if self.spare is not None and self.spare.pid == ended.si_pid:
                self._lost_spare(self.spare)
            if watch is not None:
                self._ended(watch, status)

    def _lost_spare(self, spare: _Spare) -> None:
        """The spare died before it had work (killed from outside): the next start forks anew."""
        self.spare = None
        os.close(spare.assign)
        os.close(spare.result)

    def _ended(self, watch: _Watch, status: int) -> None:
        self._kill_leftovers()
        ended: dict[str, int] = (
            {"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status) else {"exit": os.waitstatus_to_exitcode(status)}
        )
        if watch.overdue:
            ended["overdue"] = 1
        del self.pids[watch.number]
        self._report(watch.number, ended, _final_result(watch))

    def _report(self, number: int, ended: dict[str, int], result: dict[str, Any] | None) -> None:
        os.write(self.replies, wire.line({"op": "ended", "n": number, "status": ended, "result": result}))

    def _kill_leftovers(self) -> None:
        """Kill what ended work left behind, before its end is reported (``fnf.proc.cleanup``)."""
        spare = {self.spare.pid} if self.spare is not None else set()
        running = {w.owner for w in self.watches.values() if w.owner is not None}
        cleanup.kill_leftovers(set(self.watches) | spare, running)

    def _shutdown(self) -> None:
        cleanup.kill_everything([watch.pid for watch in self.watches.values()])


def _read_result(watch: _Watch) -> None:
    """Take what the work has written so far (it may block on a full pipe until it is read)."""
    try:
        while chunk := os.read(watch.result, 65536):
            watch.reported += chunk
    except (BlockingIOError, InterruptedError):
        return
    os.close(watch.result)  # end of file: the work (and all that shared the pipe) closed it
    watch.result = -1


def _final_result(watch: _Watch) -> dict[str, Any] | None:
    """The result the ended work reported, or None if it reported none (killed, crashed)."""
    if watch.result >= 0:
        _read_result(watch)
        if watch.result >= 0:  # still open in something the work left behind, killed by now
            os.close(watch.result)
    try:
        result = json.loads(watch.reported) if watch.reported else None
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def main() -> None:
    """Entry point, started by the runner with the command pipe on stdin and replies on stdout."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    commands, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # what a handler module prints at import must not reach the replies
    os.close(devnull)
    procs.become_subreaper()
    try:
        hello, rest = _read_hello(commands)
        sys.path[:] = hello["path"]
        os.environ.update(hello["environ"])  # once, inherited by every work and seen by handler imports
        Server(commands, replies, hello["environ"], rest).serve()
    except BaseException:
        traceback.print_exc()
        os._exit(70)
    os._exit(0)


def _read_hello(fd: int) -> tuple[dict[str, Any], bytes]:
    """The first line, and what came after it."""
    raw = b""
    while b"\n" not in raw:
        chunk = os.read(fd, 65536)
        if not chunk:
            raise SystemExit(0)
        raw += chunk
    first, rest = raw.split(b"\n", 1)
    hello: dict[str, Any] = json.loads(first)
    return hello, rest
