"""``fnf run``: its report, its plan (``--dry-run``), the clients list and the live progress bar."""

from __future__ import annotations

import os
import time
from typing import Any

from rich.console import Console
from rich.progress import ProgressColumn
from rich.table import Table
from rich.text import Text

from fnf.cli.render.common import OUTCOME_STYLE, STATUS_STYLE, _styled, _t, console, short_duration
from fnf.models import Client, JobState, JobType, Outcome, RunRecord, Status, human_duration
from fnf.run.observers import SilentObserver
from fnf.run.request import RunReport, RunRequest
from fnf.run.sweep import Task


def report_document(report: RunReport) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "job_id": report.job_id,
        "type": report.run_type,
        "stream": report.stream,
        "outcome": report.outcome.value,
        "exit_code": report.exit_code,
        "completed": report.counts.completed,
        "failed": report.counts.failed,
        "timed_out": report.counts.timed_out,
        "remaining": report.counts.remaining,
        "skipped": report.counts.skipped,
        "stopped_at": report.stopped_at,
        "message": report.message,
        "clients_omitted": report.omitted,
        "unusable": [{"record": u.record, "name": u.name, "reason": u.reason} for u in report.unusable],
        "clients": [
            {
                "id": c.client_id,
                "name": c.name,
                "type": c.job_type.value,
                "status": c.status.value,
                "seconds": round(c.seconds, 3),
                "count": c.count,
                "message": c.message,
            }
            for c in report.clients
        ],
    }


REPORT_ROWS = 50


def print_report(report: RunReport) -> None:
    """The clients that need attention (not completed, or completed with a warning), then the outcome."""
    out = console()
    notable = [c for c in report.clients if c.status.value != "COMPLETED" or c.message]
    if notable:
        listed = notable[:REPORT_ROWS]
        more = f", first {len(listed)} shown" if len(notable) > len(listed) else ""
        table = Table(
            title=f"Run {report.job_id}: clients that need attention ({len(notable)}{more})", title_justify="left"
        )
        for column in ("client", "name", "type", "status", "time", "count", "note"):
            table.add_column(column, overflow="fold" if column == "note" else "ellipsis")
        for c in listed:
            table.add_row(
                _t(c.client_id),
                _t(c.name),
                c.job_type.value,
                _styled(c.status.value, STATUS_STYLE),
                human_duration(c.seconds),
                "-" if c.count is None else str(c.count),
                _t(c.message or ""),
            )
        out.print(table)
    counts = report.counts
    out.print(
        f"{_styled(report.outcome.value, OUTCOME_STYLE)}: {_t(report.message or '')} "
        f"({counts.completed} completed, {counts.failed} failed, {counts.timed_out} timed out, "
        f"{counts.skipped} skipped, {counts.remaining} remaining)"
    )


def plan_document(request: RunRequest, tasks: list[Task]) -> dict[str, Any]:
    return {
        "type": request.run_type,
        "stream": request.stream,
        "clients": [
            {"id": t.client.id, "name": t.client.name, "types": [j.value for j in t.job_types], "resumed": t.resumed}
            for t in tasks
        ],
    }


def print_plan(request: RunRequest, tasks: list[Task]) -> None:
    out = console()
    if not tasks:
        out.print(f"{request.run_type} stream {request.stream}: no clients to process")
        return
    table = Table(
        title=f"Dry run: {request.run_type} stream {request.stream}, {len(tasks)} client(s) in order",
        title_justify="left",
    )
    for column in ("#", "client", "name", "types", "why"):
        table.add_column(column)
    for number, task in enumerate(tasks, start=1):
        table.add_row(
            str(number),
            _t(task.client.id),
            _t(task.client.name),
            ", ".join(j.value for j in task.job_types),
            "[yellow]resume (cut short last run)[/]" if task.resumed else "next in sweep",
        )
    out.print(table)


def print_clients(clients: list[Client]) -> None:
    table = Table(title=f"{len(clients)} client(s)", title_justify="left")
    for column in ("id", "name", "stream", "fields"):
        table.add_column(column)
    for c in clients:
        fields = ", ".join(f"{k}={v}" for k, v in c.fields.items() if v not in ("", None))
        table.add_row(_t(c.id), _t(c.name), "-" if c.stream is None else str(c.stream), _t(fields))
    console().print(table)


def progress_wanted(as_json: bool) -> bool:
    """A live bar only for a person at a terminal: not for --json, -q, cron or Render."""
    import logging
    import sys

    quiet = logging.getLogger("fnf").level > logging.INFO
    return not as_json and not quiet and sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"


class RunProgressView(SilentObserver):
    """A live progress bar on a terminal, one line at any width: clients done / total, failed and
    timed out so far, the time left to the job deadline, and the client in flight longest with its
    time against its limit. Log lines keep scrolling above it."""

    def __init__(self, job_timeout: float) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.job_timeout = job_timeout
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            _TroubleColumn(),
            _CurrentClientColumn(),
            console=Console(stderr=True, highlight=False),
            transient=True,
            expand=False,
        )
        self._task: Any = None
        self._flight: dict[str, tuple[str, float, float]] = {}
        """Clients in flight: label, start, seconds allowed (several with --concurrency)."""
        self._failed = self._timed_out = 0
        self._deadline = time.monotonic() + job_timeout

    def run_started(self, record: RunRecord) -> None:
        self._deadline = time.monotonic() + self.job_timeout
        self._progress.start()
        refresher = getattr(self._progress.live, "_refresh_thread", None)
        if refresher is not None:
            refresher.name = "fnf-progress"  # known to the watchdog's fork-with-threads check
        label = f"{_SHORT_TYPES.get(record.run_type, record.run_type)} s{record.stream}"
        self._task = self._progress.add_task(label, total=None, deadline=self._deadline, failed=0, timed_out=0)

    def sweep_planned(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def client_started(self, client: Client, job_type: JobType, allowed_seconds: float) -> None:
        self._flight[client.id] = (client.id, time.monotonic(), allowed_seconds)
        self._progress.update(self._task, flight=list(self._flight.values()))

    def client_ended(self, client: Client, job_type: JobType, state: JobState, newly_quarantined: bool) -> JobState:
        self._flight.pop(client.id, None)
        self._failed += state.status is Status.FAILED
        self._timed_out += state.status is Status.CLIENT_TIMEOUT_KILLED
        self._progress.update(
            self._task, advance=1, flight=list(self._flight.values()), failed=self._failed, timed_out=self._timed_out
        )
        return state

    def run_ended(self, outcome: Outcome, summary: str, exit_code: int) -> None:
        self._progress.stop()


_SHORT_TYPES = {"lead_scoring": "lead", "post_harvesting": "harvest", "post_scoring": "post", "all": "all"}


class _TroubleColumn(ProgressColumn):
    """``2 failed, 1 timed out, 1.4h left``: what the bar alone does not say."""

    def render(self, task: Any) -> Text:
        parts = []
        if task.fields.get("failed"):
            parts.append(f"[red]{task.fields['failed']} failed[/]")
        if task.fields.get("timed_out"):
            parts.append(f"[yellow]{task.fields['timed_out']} timed out[/]")
        left = max(0.0, float(task.fields.get("deadline", 0.0)) - time.monotonic())
        parts.append(f"{short_duration(left)} left")
        return Text.from_markup(", ".join(parts))


class _CurrentClientColumn(ProgressColumn):
    def render(self, task: Any) -> Text:
        flight = task.fields.get("flight") or []
        if not flight:
            return Text("")
        current, started, allowed = flight[0]  # the longest-running one: the one to worry about
        elapsed = time.monotonic() - started
        more = f" +{len(flight) - 1}" if len(flight) > 1 else ""
        text = Text(f"{current} {short_duration(elapsed)}/{short_duration(allowed)}{more}", style="cyan")
        text.truncate(40, overflow="ellipsis")
        return text
