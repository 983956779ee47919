"""``fnf status``: the overview of every stream, the clients that need attention, the runs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fnf.cli.render.common import OUTCOME_STYLE, STATUS_STYLE, _styled, _t, _when, console, short_duration
from fnf.clock import parse_iso
from fnf.models import human_duration


def print_status(
    doc: dict[str, Any],
    *,
    clear: bool = False,
    limit: int = 0,
    overview: bool = True,
    runs: bool = True,
    attention: bool = False,
) -> None:
    """The overview (``overview``); the clients, every one per stream and job type, or with
    ``attention`` only those an operator should look at; the recent runs (``runs``)."""
    out = console()
    if clear and out.is_terminal:
        out.clear()
    if overview:
        _print_overview(doc["streams"], out)
    if attention:
        from fnf.cli.render.attention import print_attention

        unassigned = print_attention(doc, out, limit)
    else:
        unassigned = _print_tables(doc, out, limit)
    _print_unplaced(doc, unassigned, out)
    if runs and doc["runs"]:
        print_runs(doc["runs"], out)


def _print_tables(doc: dict[str, Any], out: Console, limit: int) -> list[dict[str, Any]]:
    """Each stream's table per job type; returns the clients of no stream."""
    by_key = {(row["stream"], row["type"]): row for row in doc["streams"]}
    by_stream: dict[int, _Rows] = {}
    unassigned: list[dict[str, Any]] = []
    for client in doc.get("clients", ()):  # may be a generator: only the rows a table shows are kept
        if client["stream"] is None:
            unassigned.append(client)
        else:
            by_stream.setdefault(client["stream"], _Rows(limit)).add(client)
    for stream in sorted(by_stream):
        rows = by_stream[stream]
        for job_type in rows.totals:
            _print_stream_table(stream, job_type, rows, by_key.get((stream, job_type)), out, limit, doc["generated_at"])
    return unassigned


def _print_unplaced(doc: dict[str, Any], unassigned: list[dict[str, Any]], out: Console) -> None:
    """Records no run processes, and clients assigned to no stream: never left out of a screen."""
    unusable = doc.get("unusable") or []
    flagged = {u["record"] for u in unusable}
    unassigned = [c for c in unassigned if c["id"] not in flagged]
    if unusable:
        table = Table(title=f"Records no run processes ({len(unusable)})", title_justify="left")
        for column in ("record", "name", "why"):
            table.add_column(column, overflow="fold" if column == "why" else "ellipsis")
        for item in unusable:
            table.add_row(_t(item["record"]), _t(item["name"]), _t(item["reason"]))
        out.print(table)
    if unassigned:
        table = Table(title=f"Not assigned to a stream ({len(unassigned)})", title_justify="left")
        table.add_column("client")
        table.add_column("name")
        for client in unassigned:
            table.add_row(_t(client["id"]), _t(client["name"]))
        out.print(table)


def _print_overview(rows: list[dict[str, Any]], out: Console) -> None:
    wide = out.width >= 110
    table = Table(title="Streams", title_justify="left")
    headers = ["type", "s", "sweep", "done", "ETA"]
    headers += ["failed", "timed out", "quarantined", "live run", "heartbeat"] if wide else ["f/t/q", "live"]
    headers += ["last outcome" if wide else "last"]
    cells = [_overview_cells(row, wide) for row in rows]
    for index, header in enumerate(headers):
        right = header in ("s", "done", "failed", "timed out", "quarantined", "f/t/q")
        keep = header in ("s", "sweep", "done", "f/t/q")  # the stream and its progress are never cut
        width = max([len(header), *(len(Text.from_markup(c[index]).plain) for c in cells)]) if keep else None
        table.add_column(
            header, justify="right" if right else "left", no_wrap=True, overflow="ellipsis", min_width=width
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    out.print(table)


def _overview_cells(row: dict[str, Any], wide: bool) -> list[str]:
    live = row["live_run"]
    eta = row.get("eta_seconds")
    finished = "done" if row.get("last_sweep_finished") else "new"
    sweep = f"#{row['sweep']}" if row["sweep_open"] else finished
    cells = [
        row["type"] if wide else _SHORT_TYPES.get(row["type"], row["type"]),
        str(row["stream"]),
        sweep,
        f"{row.get('done', 0)}/{row['clients']}",
        ("-" if eta is None else human_duration(eta) or "0") if wide else short_duration(eta),
    ]
    counts = [
        _count(row.get("failed", 0), "red"),
        _count(row.get("timed_out", 0), "yellow"),
        _count(row.get("quarantined", 0), "magenta"),
    ]
    if wide:
        beat = f"{live['heartbeat_age_seconds']:.0f} s ago" if live else "-"
        running = (_t(live["run_id"][:8]) + (" [red](stale)[/]" if live["stale"] else "")) if live else "-"
        cells += [*counts, running, beat]
    else:
        cells += ["/".join(counts), "[green]yes[/]" if live and not live["stale"] else ("stale" if live else "-")]
    last = "running" if live and not live["stale"] else row["last_outcome"]
    cells.append(_styled(last, OUTCOME_STYLE))
    return cells


_SHORT_TYPES = {"lead_scoring": "lead", "post_harvesting": "harvest", "post_scoring": "post"}
"""Job types in a narrow overview (the stream number and progress need the room)."""


def _count(value: int, colour: str) -> str:
    return f"[{colour}]{value}[/]" if value else "0"


_ATTENTION = {"STARTED": 0, "RUNNING": 0, "FAILED": 1, "CLIENT_TIMEOUT_KILLED": 1, "JOB_TIMEOUT_KILLED": 1}


def _rank(job: dict[str, Any]) -> int:
    return 1 if job.get("quarantined") else _ATTENTION.get(job["status"] or "", 2)


class _Rows:
    """One stream's client rows as they stream past: every one counted, but only those a table of
    ``limit`` rows could show kept (per job type, the first ``limit`` live or problem clients and
    the first ``limit`` others), so 100,000 clients never sit in memory as rows."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.totals: dict[str, int] = {}
        """Clients per job type (a --status filter keeps only the job types that match)."""
        self.kept: list[dict[str, Any]] = []
        self._taken: dict[tuple[str, bool], int] = {}

    def add(self, client: dict[str, Any]) -> None:
        self.total += 1
        wanted = not self.limit
        for job_type, job in client["jobs"].items():
            self.totals[job_type] = self.totals.get(job_type, 0) + 1
            key = (job_type, _rank(job) < 2)
            if self._taken.get(key, 0) < self.limit:
                self._taken[key] = self._taken.get(key, 0) + 1
                wanted = True
        if wanted:
            self.kept.append(client)


def _shown(members: list[dict[str, Any]], job_type: str, limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` clients, live and problem ones first, shown in stream order."""
    if not limit or len(members) <= limit:
        return members

    def rank(item: tuple[int, dict[str, Any]]) -> tuple[int, int]:
        return (_rank(item[1]["jobs"][job_type]), item[0])

    chosen = sorted(sorted(enumerate(members), key=rank)[:limit], key=lambda item: item[0])
    return [client for _, client in chosen]


def _print_stream_table(
    stream: int,
    job_type: str,
    rows: _Rows,
    row: dict[str, Any] | None,
    out: Console,
    limit: int = 0,
    now: str | None = None,
) -> None:
    total = rows.totals[job_type]
    title = f"Stream {stream} · {job_type} · {total} client(s)"
    if row is not None:
        title += f" · {row['remaining']} left in " + (f"sweep #{row['sweep']}" if row["sweep_open"] else "next sweep")
        if row["live_run"]:
            live = row["live_run"]
            title += f" · live run {_t(live['run_id'][:8])}, heartbeat {live['heartbeat_age_seconds']:.0f} s ago"
    wide = out.width >= 140
    table = Table(title=title, title_justify="left")
    table.add_column("client", no_wrap=True, overflow="ellipsis", min_width=6, max_width=24)
    table.add_column("name", no_wrap=True, overflow="ellipsis", max_width=28 if wide else 16)
    table.add_column("status", no_wrap=True, min_width=len("CLIENT_TIMEOUT_KILLED"))
    if wide:
        table.add_column("job id", no_wrap=True)
    dated = out.width >= 100
    if dated:
        table.add_column("last run (UTC)", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    if wide:
        table.add_column("note", overflow="fold")
    picked = _shown([c for c in rows.kept if job_type in c["jobs"]], job_type, limit)
    if len(picked) < total:
        table.caption = (
            f"{total - len(picked)} more not shown (live and problem clients come first); "
            "--limit 0 shows all, --status or --client narrows"
        )
        table.caption_justify = "left"
    for client in picked:
        job = client["jobs"][job_type]
        status = _styled(job["status"], STATUS_STYLE)
        if job.get("quarantined"):
            status += " [magenta]QUARANTINED[/]"
        cells = [_t(client["id"]), _t(client["name"]), status]
        if wide:
            cells.append(_t(job["job_id"] or "-"))
        if dated:
            cells.append(_when(job["last_run_date"]) if wide else (job["last_run_date"] or "-")[5:16].replace("T", " "))
        cells += time_and_count(job, now)
        if wide:
            cells.append(_t(job["message"] or ""))
        table.add_row(*cells)
    out.print(table)


def print_runs(runs: list[dict[str, Any]], out: Console | None = None) -> None:
    out = out or console()
    wide = out.width >= 130
    table = Table(title="Recent runs", title_justify="left")
    headers = ["job id", "state"] if wide else ["started", "type", "s"]
    headers += ["outcome", "ok/f/t", "left"]
    if wide:
        headers += ["stopped at", "failures", "heartbeat"]
    for header in headers:
        table.add_column(header, no_wrap=True, justify="right" if header in ("s", "ok/f/t", "left") else "left")
    for run in fold_busy(runs):
        if wide:
            cells = [_t(run["job_id"]), run["state"], _styled(run["outcome"], OUTCOME_STYLE)]
        else:
            cells = [
                (run["started_at"] or "")[5:16].replace("T", " "),
                run["type"],
                str(run["stream"]),
                _styled(run["outcome"] or run["state"], OUTCOME_STYLE),
            ]
        cells += [f"{run['completed']}/{run['failed']}/{run['timed_out']}", str(run["remaining"])]
        if wide:
            cells += [
                _t(run["stopped_at"] or "-"),
                _kinds(run.get("failures") or {}),
                f"{run['heartbeat_age_seconds']:.0f} s ago" if run["state"] != "ended" else "-",
            ]
        table.add_row(*cells)
    out.print(table)


_HISTORY_COLUMNS: list[tuple[str, str, bool]] = [
    # (header, justify, shown on a narrow terminal)
    ("started (UTC)", "left", True),
    ("type", "left", True),
    ("s", "right", True),
    ("took", "left", False),
    ("outcome", "left", True),
    ("ok/fail/t.o.", "right", True),
    ("left", "right", True),
    ("skip", "right", True),
    ("stopped at", "left", False),
    ("failures", "left", False),
    ("alerts", "left", False),
]


def print_history(entries: list[dict[str, Any]]) -> None:
    out = console()
    if not entries:
        out.print("no runs recorded yet")
        return
    width = out.width
    columns = [
        (header, justify)
        for header, justify, narrow in _HISTORY_COLUMNS
        if narrow or width >= (140 if header == "alerts" else 100)
    ]
    table = Table(title=f"Runs ({len(entries)}, newest first)", title_justify="left")
    for header, justify in columns:
        table.add_column(header, justify=justify, no_wrap=header != "alerts", overflow="fold")  # type: ignore[arg-type]
    for entry in fold_busy(entries):
        cells = {
            "started (UTC)": (entry["started_at"] or "")[5:16].replace("T", " "),
            "type": entry["type"],
            "s": str(entry["stream"]),
            "took": human_duration(entry["duration_seconds"]),
            "outcome": _styled(entry["outcome"] or entry["state"], OUTCOME_STYLE),
            "ok/fail/t.o.": f"{entry['completed']}/{entry['failed']}/{entry['timed_out']}",
            "left": str(entry["remaining"]),
            "skip": str(entry.get("skipped", 0)),
            "stopped at": _t(entry["stopped_at"] or "-"),
            "failures": _kinds(entry.get("failures") or {}),
            "alerts": _t(entry["alerts"] or ""),
        }
        table.add_row(*(cells[header] for header, _ in columns))
    out.print(table)


def _kinds(failures: dict[str, int]) -> str:
    """``35 auth, 3 crash``: a run's failures by kind, or ``-``."""
    return ", ".join(f"{number} {_t(kind)}" for kind, number in failures.items()) or "-"


def time_and_count(job: dict[str, Any], now: str | None) -> list[str]:
    """A finished client's time and count; a running one's elapsed time and progress."""
    started, at = parse_iso(job["last_run_date"]), parse_iso(now)
    if job["status"] in ("STARTED", "RUNNING") and started is not None and at is not None:
        elapsed = (at - started).total_seconds()
        message = job["message"] or ""
        progress = message.removeprefix("progress ").split(":")[0] if message.startswith("progress ") else "-"
        return [f"{short_duration(max(0.0, elapsed))} so far", _t(progress)]
    return [job["last_run_time"] or "-", "-" if job["count"] is None else str(job["count"])]


def fold_busy(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Busy ticks in a row (a cron line firing while a run holds its stream) as one row: ``busy x12``
    dated by the latest; they did nothing, and a page of them hides the runs that did."""
    folded: list[dict[str, Any]] = []
    for run in runs:
        last = folded[-1] if folded else None
        same = last is not None and (last["type"], last["stream"]) == (run["type"], run["stream"])
        if run["outcome"] == "busy" and same and last is not None and str(last["outcome"]).startswith("busy"):
            count = last.get("folded", 1) + 1
            folded[-1] = {**last, "folded": count, "outcome": f"busy x{count}"}
        else:
            folded.append(run)
    return folded
