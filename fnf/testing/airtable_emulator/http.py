"""The emulator's HTTP front: one handler thread per request, and ``python -m`` start-up."""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fnf.testing.airtable_emulator.model import ApiError
from fnf.testing.airtable_emulator.server import Emulator


class _Handler(BaseHTTPRequestHandler):
    owner: Emulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        emulator = self.owner
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        written = 0
        try:
            body = json.loads(raw) if raw else {}
            if emulator.faults.latency:
                time.sleep(emulator.faults.latency)
            if self.headers.get("Authorization") != f"Bearer {emulator.token}":
                raise ApiError(401, "AUTHENTICATION_REQUIRED", "Authentication required")
            segments = split.path.strip("/").split("/")
            base_id = segments[1] if len(segments) > 1 and segments[1] != "meta" else _meta_base(segments)
            drop = emulator.admit(base_id)
            if drop == "drop-before":
                self._drop()
                return
            status, payload = emulator.handle(method, split.path, parse_qs(split.query), body)
            written = _count_written(method, body, split.query)
            if drop == "drop-after":
                self._drop()
                return
        except ApiError as exc:
            status, payload = exc.status, exc.body()
            if exc.status == 429:
                payload = {"errors": [{"error": exc.kind, "message": exc.message}]}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            status, payload = 422, {"error": {"type": "INVALID_REQUEST_UNKNOWN", "message": f"Invalid request: {exc}"}}
        with emulator.lock:
            emulator.stats.log.append((method, split.path, status, written))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    """A handler class whose requests ``emulator`` answers."""

    class Handler(_Handler):
        owner = emulator

    return Handler


def _meta_base(segments: list[str]) -> str:
    return segments[3] if len(segments) > 3 else ""


def _count_written(method: str, body: Any, query: str) -> int:
    if method == "DELETE":
        return max(1, len(parse_qs(query).get("records[]", [])))
    if method in ("POST", "PATCH", "PUT") and isinstance(body, dict) and "records" in body:
        return len(body["records"])
    if method in ("PATCH", "PUT") or (method == "POST" and isinstance(body, dict) and "fields" in body):
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve an emulated Airtable API on loopback.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--base", default="appTESTBASE000001", help="base id to create (empty)")
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--penalty", type=float, default=30.0, help="seconds refused after a rate-limit breach")
    args = parser.parse_args(argv)
    emulator = Emulator(args.token, penalty=args.penalty)
    emulator.base(args.base)
    print(f"Airtable emulator on {emulator.start(args.port)} (base {args.base}, token {args.token})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        emulator.stop()


if __name__ == "__main__":
    main()
