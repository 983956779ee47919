"""Real servers on loopback for alert tests: an HTTP receiver and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every request. ``mode``: 'ok' (200/202), 'fail' (500), 'hang' (never answers in time)
    or 'hold' (answers 200 once the test sets ``release``)."""

    mode: str = "ok"
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"


@contextmanager
def http_receiver(mode: str = "ok", status: int = 200) -> Iterator[Receiver]:
    receiver = Receiver(mode, status)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            split = urlsplit(self.path)
            receiver.requests.append(
                Received(self.command, split.path, parse_qs(split.query), dict(self.headers.items()), body)
            )
            if receiver.mode == "hang":
                time.sleep(30)
                return
            if receiver.mode == "hold":
                receiver.release.wait(60)
            code = 500 if receiver.mode == "fail" else receiver.status
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.server = server
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: _Inbox

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    inbox = _Inbox()
    with socket.socket() as probe:  # aiosmtpd needs a concrete port to check its own start-up
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, inbox)
    finally:
        controller.stop()
