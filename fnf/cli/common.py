"""Options and helpers shared by the commands."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import replace
from typing import Annotated, Any

import typer

from fnf.config import Overrides, Settings, load_settings
from fnf.models import shown

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", metavar="PATH", help="SQLite store file (overrides FNF_DB). Example: --db /var/lib/fnf/fnf.db"
    ),
]
TypeOption = Annotated[str, typer.Option("--type", "-t", metavar="TYPE", help="Job type. Example: --type lead_scoring")]
StreamOption = Annotated[str, typer.Option("--stream", "-s", metavar="N", help="Stream. Example: --stream 2")]
TypeFilter = Annotated[
    str | None,
    typer.Option("--type", "-t", metavar="TYPE", help="Only this job type. Example: --type lead_scoring"),
]
StreamFilter = Annotated[
    str | None, typer.Option("--stream", "-s", metavar="N", help="Only this stream. Example: --stream 2")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON document on stdout instead of tables.")]
ConcurrencyOption = Annotated[
    str | None,
    typer.Option(
        "--concurrency",
        "-k",
        metavar="K",
        help="Up to K clients at once, each in its own watched process with its own deadline "
        "(overrides FNF_CONCURRENCY, default 1). Example: --concurrency 4",
    ),
]


def settings(overrides: Overrides | None = None, *, interactive: bool = True) -> Settings:
    """The settings of a command. Someone waits for an interactive one, so an unreachable
    Airtable ends it within about 15 s; runs (``interactive=False``) keep the full retry budget."""
    loaded = load_settings(overrides or Overrides())
    if interactive and loaded.airtable is not None:
        return replace(loaded, airtable=loaded.airtable.for_people())
    return loaded


class _UTCFormatter(logging.Formatter):
    """ISO time in UTC; control characters in the message shown escaped, so a client id or a
    child's output cannot forge a line or send escape sequences to the operator's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = shown(record.getMessage()), None
        return super().format(safe)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class _JSONFormatter(logging.Formatter):
    """One JSON object per line, for log pipelines."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


LOG_FORMATS = ("text", "json")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now, so a live progress bar can keep log lines above it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(verbosity: int, log_format: str = "text") -> None:
    """Timestamped lines on stderr (plain text, or JSON objects): stdout is kept for tables and documents."""
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = _StderrHandler()
    if log_format == "json":
        handler.setFormatter(_JSONFormatter())
    else:
        handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)-7s %(message)s"))
    root = logging.getLogger("fnf")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "credential", "auth")
"""A client field whose name holds one of these is masked unless asked (fnf clients list --show-secrets)."""


def masked(fields: dict[str, Any], *, show: bool = False) -> dict[str, Any]:
    """Client fields for display: values of secret-looking fields replaced by ``***``."""
    if show:
        return dict(fields)
    return {
        k: ("***" if v not in ("", None) and any(w in k.lower() for w in SECRET_WORDS) else v)
        for k, v in fields.items()
    }
