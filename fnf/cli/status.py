"""``fnf status``: where every stream and client stands."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from fnf.cli.common import DbOption, JsonOption, StreamFilter, TypeFilter, settings
from fnf.config import Overrides
from fnf.errors import EXIT_OK, UsageError
from fnf.models import Status


def status(
    type_: TypeFilter = None,
    stream: StreamFilter = None,
    status_: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only clients with this status (or QUARANTINED). Example: --status FAILED",
        ),
    ] = None,
    client: Annotated[
        list[str] | None, typer.Option("--client", "-c", metavar="ID", help="Only this client (repeatable).")
    ] = None,
    overview: Annotated[
        bool,
        typer.Option("--overview", help="Only the streams and recent runs, no client rows (fast on any store size)."),
    ] = False,
    every: Annotated[
        bool,
        typer.Option("--all", help="Every client, per stream and job type (default: the clients that need attention)."),
    ] = False,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            metavar="N",
            help="Client rows per table (live and problem clients first when cut); 0 shows all. "
            "--json always has every client. Example: --limit 200",
        ),
    ] = 50,
    watch: Annotated[
        float | None,
        typer.Option("--watch", "-w", metavar="SECONDS", help="Refresh every SECONDS until Ctrl-C. Example: -w 5"),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """Show every stream's sweep and live run, the clients that need attention (--all: every client's
    status per job type), and the recent runs.

    --json prints the stable status document: {"clients": [{"id", "name", "stream", "jobs":
    {TYPE: {"status", "job_id", "last_run_date", "last_run_seconds", "count", ...}}}], "runs":
    [...], "streams": [...]}.

    Example: fnf status --stream 2 --json
    """
    from fnf import commands
    from fnf.cli import render

    if type_ is not None:
        commands.check_run_type(type_)
    stream_number = commands.check_stream(stream) if stream is not None else None
    wanted = _check_status(status_)
    config = settings(Overrides(db=db))
    if limit < 0:
        raise UsageError(f"--limit {limit} is not a number of rows: use 0 (all) or more, such as 50")
    if watch is not None and watch <= 0:
        raise UsageError(f"--watch {watch:g} is not a refresh interval: use a number of seconds above zero, such as 5")
    try:
        while True:
            if as_json:
                commands.status_json(
                    config,
                    sys.stdout,
                    run_type=type_,
                    stream=stream_number,
                    clients=not overview,
                    keep=lambda entry: _keep(entry, wanted, client),
                )
                sys.stdout.flush()
            else:
                document = commands.status(
                    config, run_type=type_, stream=stream_number, clients=not overview, lazy=True
                )
                if "clients" in document:
                    kept = (c for c in document["clients"] if _keep(c, wanted, client))
                    document["clients"] = (_matching_jobs(c, wanted) for c in kept)
                focused = every or bool(client) or wanted is not None
                render.print_status(document, clear=watch is not None, limit=limit, attention=not focused)
            if watch is None:
                return EXIT_OK
            time.sleep(watch)
    except KeyboardInterrupt:  # the way out of --watch
        return EXIT_OK


def _check_status(value: str | None) -> str | None:
    if value is None:
        return None
    choices = [s.value for s in Status] + ["QUARANTINED"]
    if value.upper() not in choices:
        raise UsageError(f"--status {value!r} is not a status: use one of {', '.join(choices)}")
    return value.upper()


def _keep(client: dict[str, Any], status: str | None, ids: list[str] | None) -> bool:
    if ids and client["id"] not in ids:
        return False
    if status is None:
        return True
    jobs = client["jobs"].values()
    if status == "QUARANTINED":
        return any(job["quarantined"] for job in jobs)
    return any(job["status"] == status for job in jobs)


def _matching_jobs(client: dict[str, Any], status: str | None) -> dict[str, Any]:
    """With --status, only the job types in that status: the tables show what was asked for."""
    if status is None:
        return client
    matches = {
        t: job
        for t, job in client["jobs"].items()
        if (job["quarantined"] if status == "QUARANTINED" else job["status"] == status)
    }
    return {**client, "jobs": matches}
