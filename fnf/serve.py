"""``fnf serve``: an HTTP trigger for schedulers that can only call a URL.

``POST /api/batch-process-v2?type=lead_scoring&stream=1`` answers 202 with ``{"jobId", "runId",
"message": "Job started"}`` at once and starts the run in the background, exactly as
``fnf run --detach`` would; ``GET /api/runs/{id}`` returns the run's record; ``GET /health`` says the
server is up. Every ``/api`` request must carry ``Authorization: Bearer $CRON_SECRET`` (compared in
constant time); without a configured secret the server does not start.
"""

from __future__ import annotations

import hmac
import json
import logging
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fnf import background
from fnf import lease as leases
from fnf import status as status_doc
from fnf.clock import SystemClock
from fnf.config import Settings
from fnf.errors import ConfigError, FnfError
from fnf.models import RUN_TYPES, job_types_of
from fnf.store import open_store

log = logging.getLogger("fnf.serve")

PATH = "/api/batch-process-v2"


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

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    config: Settings
    token: str
    server_version = "fnf"

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        if split.path == "/health":
            self._answer(200, {"ok": True})
        elif split.path.startswith("/api/runs/") and self._authorized():
            self._run(split.path.removeprefix("/api/runs/"))
        elif not split.path.startswith("/api/"):
            self._answer(404, {"error": f"no such endpoint: {split.path}"})

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        if split.path != PATH:
            self._answer(404, {"error": f"no such endpoint: {split.path}; use POST {PATH}?type=...&stream=N"})
            return
        if not self._authorized():
            return
        query = parse_qs(split.query)
        run_type = (query.get("type") or [""])[0]
        stream = (query.get("stream") or [""])[0]
        if run_type not in RUN_TYPES:
            self._answer(400, {"error": f"type {run_type!r} is not a job type: use one of {', '.join(RUN_TYPES)}"})
            return
        if not stream.isdigit() or int(stream) < 1:
            self._answer(400, {"error": f"stream {stream!r} is not a stream: streams are numbered 1, 2, 3 ..."})
            return
        try:
            busy = self._holder(run_type, int(stream))
            if busy is not None:
                self._answer(409, busy)
                return
            started = background.start(run_type, int(stream))
        except FnfError as exc:
            self._answer(503, {"error": str(exc)})
            return
        self._answer(202, {"jobId": started.job_id, "runId": started.run_id, "message": "Job started"})

    def _holder(self, run_type: str, stream: int) -> dict[str, Any] | None:
        now = SystemClock().now()
        types = job_types_of(run_type)
        with closing(open_store(self.config, verify=False)) as store:
            held = [lease for lease in store.leases() if lease.job_type in types and lease.stream == stream]
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
        with closing(open_store(self.config, verify=False)) as store:
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

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
