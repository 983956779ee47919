"""What the runner and its process server say to each other: one JSON object per line.

The runner sends ``hello`` once, then ``start`` (one client's work), ``term`` and ``kill``; the server
answers ``ended`` when a piece of work has ended and everything it left behind is gone. Work travels
as data, never as a pickled object: the server resolves the handler from its spec, as the runner did.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from fnf.handlers import Handler, HandlerSpec
from fnf.models import Client, JobType
from fnf.proc.work import Work, WorkFiles


def line(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":"), default=str) + "\n").encode()


def start_message(number: int, work: Work, files: WorkFiles) -> dict[str, Any]:
    spec = work.handler.spec
    client = work.client
    return {
        "op": "start",
        "n": number,
        "files": str(files.base),
        "client": [client.id, client.name, client.stream, dict(client.fields)],
        "job": [work.job_type.value, work.job_id, work.run_id, work.stream],
        "deadline": [work.deadline.isoformat(), work.deadline_monotonic, work.grace],
        "handler": [spec.job_type.value, spec.kind, spec.value, spec.source],
    }


def spec_of(message: dict[str, Any]) -> HandlerSpec:
    job_type, kind, value, source = message["handler"]
    return HandlerSpec(JobType(job_type), kind, value, source)


def work_of(message: dict[str, Any], handler: Handler) -> tuple[Work, WorkFiles]:
    """The work and its files, rebuilt in the server from a ``start`` message."""
    client_id, name, stream, fields = message["client"]
    job_type, job_id, run_id, run_stream = message["job"]
    deadline, deadline_monotonic, grace = message["deadline"]
    work = Work(
        client=Client(client_id, name, stream, fields),
        job_type=JobType(job_type),
        job_id=job_id,
        run_id=run_id,
        stream=run_stream,
        deadline=datetime.fromisoformat(deadline),
        deadline_monotonic=deadline_monotonic,
        handler=handler,
        grace=grace,
    )
    return work, WorkFiles.at(Path(message["files"]))


def read_line(fd: int) -> dict[str, Any] | None:
    """The one message of a pipe that carries only it (a spare's work); None at end of file."""
    raw = b""
    while not raw.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        raw += chunk
    message: dict[str, Any] = json.loads(raw)
    return message
