"""Dead-man's-switch monitors: healthchecks.io and Cronitor, each in its own protocol.

A monitor hears from every run twice: when it starts and when it ends, with the exit code fnf
returns. One that stops hearing (the scheduler stopped, the machine is gone) alerts by itself;
that is the failure fnf cannot report from inside.

* healthchecks.io (and self-hosted Healthchecks): ``POST <url>/start?rid=<uuid>``, then
  ``POST <url>/<exit code>?rid=<uuid>`` with the run's summary and the tail of its log as the body,
  as runners such as runitor do. A slug URL (``https://hc-ping.com/<ping key>/fnf-{type}-{stream}``)
  gets ``create=1``, so one ping key serves every (type, stream): checks are made on first ping.
* Cronitor: ``GET https://cronitor.link/p/<api key>/<monitor>?state=run|complete|fail`` with
  ``series`` (the run id), ``host``, ``status_code``, ``message`` and metrics; a monitor key that
  does not exist yet is created by Cronitor on first ping.

``{type}`` and ``{stream}`` in ``FNF_PING_URL`` are filled in. The kind is told by the URL's host
(``cronitor.link``), or set with ``FNF_PING_KIND``.
"""

from __future__ import annotations

import collections
import logging
import socket
import uuid
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from fnf.alerts.channels import DeliveryError, _get, _post

log = logging.getLogger("fnf.alerts")

KINDS = ("auto", "healthchecks", "cronitor")
BODY_LIMIT = 10_000
"""Bytes of summary and log tail sent with an end ping (healthchecks keeps up to 100 KB)."""
TAIL_LINES = 60


class Monitor(Protocol):
    kind: str

    def started(self, run_type: str, stream: int, run_id: str) -> bool: ...

    def ended(self, run_type: str, stream: int, run_id: str, exit_code: int, summary: str, tail: str) -> bool: ...


def monitor_for(template: str, kind: str = "auto", *, timeout: float = 5.0) -> Monitor:
    if kind == "cronitor" or (kind == "auto" and (urlsplit(template).hostname or "").endswith("cronitor.link")):
        return Cronitor(template, timeout=timeout)
    return Healthchecks(template, timeout=timeout)


def _fill(template: str, run_type: str, stream: int) -> str:
    return template.replace("{type}", run_type).replace("{stream}", str(stream))


def _rid(run_id: str) -> str:
    """healthchecks takes a run id only in UUID form; fnf's are UUID hex, others are mapped."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, run_id))


class Healthchecks:
    kind = "healthchecks"

    def __init__(self, template: str, *, timeout: float = 5.0) -> None:
        self._template, self.timeout = template, timeout

    def url(self, suffix: str, run_type: str, stream: int, run_id: str) -> str:
        parts = urlsplit(_fill(self._template, run_type, stream))
        path = parts.path.rstrip("/")
        query = {"rid": _rid(run_id)}
        if not _is_uuid(path.rsplit("/", 1)[-1]):
            query["create"] = "1"  # a slug: the check is made on its first ping
        joined = "&".join(q for q in (parts.query, urlencode(query)) if q)
        return urlunsplit((parts.scheme, parts.netloc, f"{path}/{suffix}" if suffix else path, joined, ""))

    def started(self, run_type: str, stream: int, run_id: str) -> bool:
        return self._send("start", run_type, stream, run_id, b"")

    def ended(self, run_type: str, stream: int, run_id: str, exit_code: int, summary: str, tail: str) -> bool:
        body = (summary + ("\n\n" + tail if tail else "")).encode()[-BODY_LIMIT:]
        return self._send(str(exit_code), run_type, stream, run_id, body)

    def _send(self, suffix: str, run_type: str, stream: int, run_id: str, body: bytes) -> bool:
        try:
            _post(self.url(suffix, run_type, stream, run_id), body, {"Content-Type": "text/plain"}, self.timeout)
        except DeliveryError as exc:
            log.warning("monitor ping %s not delivered: %s", suffix, exc)
            return False
        return True


class Cronitor:
    kind = "cronitor"

    def __init__(self, template: str, *, timeout: float = 5.0) -> None:
        self._template, self.timeout = template, timeout

    def url(self, run_type: str, stream: int, params: list[tuple[str, str]]) -> str:
        parts = urlsplit(_fill(self._template, run_type, stream))
        joined = "&".join(q for q in (parts.query, urlencode(params)) if q)
        return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), joined, ""))

    def started(self, run_type: str, stream: int, run_id: str) -> bool:
        return self._send(run_type, stream, [("state", "run"), ("series", run_id), ("host", socket.gethostname())])

    def ended(self, run_type: str, stream: int, run_id: str, exit_code: int, summary: str, tail: str) -> bool:
        params = [
            ("state", "complete" if exit_code == 0 else "fail"),
            ("series", run_id),
            ("host", socket.gethostname()),
            ("status_code", str(exit_code)),
            ("message", summary[:2000]),
        ]
        return self._send(run_type, stream, params)

    def _send(self, run_type: str, stream: int, params: list[tuple[str, str]]) -> bool:
        try:
            _get(self.url(run_type, stream, params), self.timeout)
        except DeliveryError as exc:
            log.warning("monitor ping %s not delivered: %s", params[0][1], exc)
            return False
        return True


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


class LogTail(logging.Handler):
    """The last lines fnf logged during the run, for the end ping's body."""

    def __init__(self, lines: int = TAIL_LINES) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a log line must never break a run
            self.handleError(record)

    def text(self) -> str:
        return "\n".join(self.lines)
