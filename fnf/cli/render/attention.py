"""The clients an operator should look at, across every stream: ``fnf status`` without ``--all``.

A screen of 61 clients in 9 tables hides the two that failed; this one lists only the clients
that failed, hit a limit, were cut short, are running or are quarantined, problems first.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from fnf.cli.render.common import STATUS_STYLE, _styled, _t, short_duration
from fnf.cli.render.status import _SHORT_TYPES, time_and_count

_ORDER = {"FAILED": 0, "CLIENT_TIMEOUT_KILLED": 1, "JOB_TIMEOUT_KILLED": 2, "RUNNING": 3, "STARTED": 3}


def _needs_attention(job: dict[str, Any]) -> bool:
    return bool(job.get("quarantined")) or job["status"] in _ORDER


def print_attention(doc: dict[str, Any], out: Console, limit: int) -> list[dict[str, Any]]:
    """One table of the clients that need attention (at most ``limit`` rows, 0: all); returns the
    clients of no stream."""
    found: list[tuple[int, str, dict[str, Any], dict[str, Any]]] = []
    unassigned, total = [], 0
    for client in doc.get("clients", ()):  # may be a generator: only these rows are kept
        total += 1
        if client["stream"] is None:
            unassigned.append(client)
        for job_type, job in client["jobs"].items():
            if _needs_attention(job):
                found.append((_ORDER.get(job["status"], 4), job_type, client, job))
    found.sort(key=lambda item: item[0])
    shown = found if not limit else found[:limit]
    wide = out.width >= 120
    table = Table(title=f"Clients that need attention ({len(found)} of {total})", title_justify="left")
    table.add_column("client", no_wrap=True, overflow="ellipsis", min_width=6, max_width=24)
    table.add_column("name", no_wrap=True, overflow="ellipsis", max_width=28 if wide else 14)
    table.add_column("s", no_wrap=True, justify="right", min_width=1)
    table.add_column("type", no_wrap=True, min_width=7)
    table.add_column("status", no_wrap=True, min_width=len("CLIENT_TIMEOUT_KILLED"))
    table.add_column("time", no_wrap=True, justify="right")
    if wide:
        table.add_column("count", no_wrap=True, justify="right")
        table.add_column("note", overflow="fold")
    for _, job_type, client, job in shown:
        status = _styled(job["status"], STATUS_STYLE) + (" [magenta]QUARANTINED[/]" if job.get("quarantined") else "")
        kind = job_type if wide else _SHORT_TYPES.get(job_type, job_type)
        cells = [_t(client["id"]), _t(client["name"]), str(client["stream"] or "-"), kind, status]
        time_cell, count = time_and_count(job, doc["generated_at"])
        cells.append(time_cell if wide else _short(job, time_cell))
        if wide:
            cells += [count, _t(job["message"] or "")]
        table.add_row(*cells)
    more = f"{len(found) - len(shown)} more not shown (--limit 0 shows all); " if len(shown) < len(found) else ""
    table.caption = more + "fnf status --all lists every client, --status or --client narrows"
    table.caption_justify = "left"
    out.print(table if found else "No client needs attention: none failed, timed out, was cut short or is running.")
    return unassigned


def _short(job: dict[str, Any], shown: str) -> str:
    """The time in a narrow column: ``2s`` rather than ``2 seconds``."""
    seconds = job.get("last_run_seconds")
    return shown if seconds is None or shown.endswith("so far") else short_duration(seconds)
