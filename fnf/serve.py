"""``fnf serve``: an HTTP trigger for schedulers that can only call a URL.

``POST /api/batch-process-v2?type=lead_scoring&stream=1`` starts the run in the background, exactly
as ``fnf run --detach`` would, and answers only once the run has said whether it took its stream:
202 ``{"jobId", "runId", "message": "Job started"}`` when it holds the stream and has planned its
clients; 409 when another run holds it (naming the holder); 400 for a bad type or stream; 422 for a
type with no handler or a stream with no clients; 429 when too many runs are starting at once.
``GET /api/runs/{id}`` returns the run's record; ``GET /metrics`` (with the same bearer token) the
per-stream gauges for Prometheus; ``GET /health`` says the server is up. Every other
path or method gets a JSON 404 or 405. Every ``/api`` request must carry ``Authorization: Bearer
$CRON_SECRET`` (compared in constant time); without a configured secret the server does not start.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fnf import background, commands
from fnf import status as status_doc
from fnf.clock import SystemClock
from fnf.config import Settings
from fnf.errors import EXIT_USAGE, ConfigError, FnfError, UsageError
from fnf.models import RUN_TYPES, job_types_of
from fnf.run import lease as leases
from fnf.store import open_store

log = logging.getLogger("fnf.serve")

PATH = "/api/batch-process-v2"
SOCKET_TIMEOUT_SECONDS = 15.0
"""A client that opens a connection and sends nothing is dropped after this."""
MAX_STARTING = 4
"""Runs being started at once; more wait up to STARTING_WAIT_SECONDS, then get 429."""
STARTING_WAIT_SECONDS = 10.0
_METHODS = "GET, POST"


def secret_of(settings: Settings) -> str:
    secret = settings.environ.get("CRON_SECRET", "").strip()
    if not secret:
        raise ConfigError(
            "fnf serve needs CRON_SECRET: set it (a long random string) in the environment or .env; "
            "callers then send Authorization: Bearer <CRON_SECRET>. It refuses to start without one"
        )
    return secret


def make_server(settings: Settings, host: str, port: int) -> ThreadingHTTPServer:
    secret = secret_of(settings)
    with closing(open_store(settings)):  # the store is reachable (and, for Airtable, complete) before serving
        pass

    class Handler(_Handler):
        config = settings
        token = secret
        starts = _Starts()
        timeout = _seconds(settings, "FNF_SERVE_SOCKET_TIMEOUT_SECONDS", SOCKET_TIMEOUT_SECONDS)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def _seconds(settings: Settings, name: str, default: float) -> float:
    text = settings.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise ConfigError(f"{name}={text!r} is not a number of seconds between 0 and 3600; for example 15")
    return value


class _Starts:
    """What the server shares between requests: one start at a time per (type, stream), a bound on
    starts at once, and the background runs it started (reaped, so none is left a zombie)."""

    def __init__(self) -> None:
        self.slots = threading.BoundedSemaphore(MAX_STARTING)
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._guard = threading.Lock()
        self._children: list[background.Started] = []

    def lock(self, run_type: str, stream: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((run_type, stream), threading.Lock())

    def adopt(self, started: background.Started) -> None:
        with self._guard:
            self._children = [c for c in self._children if c.process is not None and c.process.poll() is None]
            self._children.append(started)


class _Handler(BaseHTTPRequestHandler):
    config: Settings
    token: str
    starts: _Starts
    server_version = "fnf"
    timeout = SOCKET_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        if split.path == "/health":
            self._answer(200, {"ok": True})
        elif split.path == "/metrics":
            if self._authorized():
                self._metrics()
        elif not split.path.startswith("/api/"):
            self._answer(404, {"error": f"no such endpoint: {split.path}"})
        elif not self._authorized():
            return
        elif split.path.startswith("/api/runs/"):
            self._run(split.path.removeprefix("/api/runs/"))
        elif split.path == PATH:
            self._answer(405, {"error": f"{PATH} takes POST"}, allow="POST")
        else:
            self._answer(404, {"error": f"no such endpoint: {split.path}; see GET /api/runs/ID, POST {PATH}"})

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        if split.path != PATH:
            self._answer(404, {"error": f"no such endpoint: {split.path}; use POST {PATH}?type=...&stream=N"})
            return
        if not self._authorized():
            return
        query = parse_qs(split.query)
        run_type = (query.get("type") or [""])[0]
        if run_type not in RUN_TYPES:
            self._answer(400, {"error": f"type {run_type!r} is not a job type: use one of {', '.join(RUN_TYPES)}"})
            return
        try:
            stream = commands.check_stream((query.get("stream") or [""])[0], flag="stream")
        except UsageError as exc:
            self._answer(400, {"error": str(exc)})
            return
        try:
            commands.check_handlers(self.config, run_type)
        except UsageError as exc:  # no handler, or one that cannot run: nothing would happen
            self._answer(422, {"error": str(exc)})
            return
        self._start(run_type, stream)

    def _start(self, run_type: str, stream: int) -> None:
        if not self.starts.slots.acquire(timeout=STARTING_WAIT_SECONDS):
            self._answer(429, {"error": f"{MAX_STARTING} runs are starting already; retry shortly"}, retry=5)
            return
        try:
            with self.starts.lock(run_type, stream):
                busy = self._holder(run_type, stream)
                if busy is not None:
                    self._answer(409, busy)
                    return
                launched = background.launch(run_type, stream)
                self.starts.adopt(launched.started)
        except FnfError as exc:
            self._answer(503, {"error": str(exc)})
            return
        finally:
            self.starts.slots.release()
        self._launched(launched, run_type, stream)

    def _launched(self, launched: background.Launch, run_type: str, stream: int) -> None:
        started = launched.started
        ids = {"jobId": started.job_id, "runId": started.run_id}
        if launched.state == "started":
            self._answer(202, {**ids, "message": "Job started", "planned": launched.planned})
        elif launched.state == "busy":
            self._answer(409, self._holder(run_type, stream) or {"error": launched.message})
        elif launched.state == "no_clients" or (launched.state == "exited" and launched.exit_code == EXIT_USAGE):
            self._answer(422, {**ids, "error": launched.message})
        elif launched.state == "silent":
            self._answer(504, {**ids, "error": f"{launched.message}: follow it with GET /api/runs/{started.run_id}"})
        else:
            self._answer(500, {**ids, "error": f"the run ended as {launched.state}: {launched.message}"})

    def do_PUT(self) -> None:
        self._refuse_method()

    def do_PATCH(self) -> None:
        self._refuse_method()

    def do_DELETE(self) -> None:
        self._refuse_method()

    def do_OPTIONS(self) -> None:
        self._refuse_method()

    def _refuse_method(self) -> None:
        self._answer(405, {"error": f"method {self.command} is not allowed: use {_METHODS}"}, allow=_METHODS)

    def _holder(self, run_type: str, stream: int) -> dict[str, Any] | None:
        now = SystemClock().now()
        types = job_types_of(run_type)
        with closing(open_store(self.config, verify=False, readonly=True)) as store:
            held = [lease for lease in store.leases() if lease.job_type in types and lease.stream == stream]
            now = store.now(now)
        alive = [lease for lease in held if not leases.is_dead(lease, now)]
        if not alive:
            return None
        holder = alive[0].holder
        return {
            "error": f"{alive[0].job_type.value} stream {stream} is busy: held by {leases.describe(alive[0], now)}",
            "holder": {"runId": holder.run_id, "host": holder.host, "pid": holder.pid},
        }

    def _run(self, ref: str) -> None:
        now = SystemClock().now()
        with closing(open_store(self.config, verify=False, readonly=True)) as store:
            held = {lease.holder.run_id: lease for lease in store.leases()}
            found = [r for r in store.runs(limit=500) if ref in (r.run_id, r.job_id)]
        if not found:
            self._answer(404, {"error": f"no run has id {ref!r}"})
            return
        self._answer(200, status_doc.run_entry(found[0], held, now))

    def _authorized(self) -> bool:
        sent = self.headers.get("Authorization", "")
        expected = f"Bearer {self.token}"
        if hmac.compare_digest(sent.encode(), expected.encode()):
            return True
        self._answer(401, {"error": "missing or wrong Authorization: send Authorization: Bearer <CRON_SECRET>"})
        return False

    def _metrics(self) -> None:
        """The per-stream gauges of the status document, in Prometheus' text format."""
        try:
            from fnf import metrics

            body, content_type = metrics.stream_gauges(commands.status(self.config, clients=False))
        except ImportError:
            self._answer(501, {"error": "GET /metrics needs prometheus_client: pip install 'fnf[metrics]'"})
            return
        except FnfError as exc:
            self._answer(503, {"error": f"cannot read the store: {exc}"})
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, status: int, body: dict[str, Any], *, allow: str | None = None, retry: int | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if allow is not None:
            self.send_header("Allow", allow)
        if retry is not None:
            self.send_header("Retry-After", str(retry))
        self.end_headers()
        self.wfile.write(data)
