"""``fnf reset``, ``fnf doctor`` and ``fnf health``: repair, check, and report to monitors."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from fnf.cli.common import ConcurrencyOption, DbOption, JsonOption, StreamOption, TypeOption, settings
from fnf.config import Overrides
from fnf.errors import EXIT_OK, EXIT_RUN_FAILED


def reset(
    type_: TypeOption,
    stream: StreamOption,
    client: Annotated[
        list[str] | None,
        typer.Option(
            "--client", "-c", metavar="ID", help="Only this stuck client (repeatable). Example: --client rec42"
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Release even if the holder looks alive (it will find out and stop).")
    ] = False,
    db: DbOption = None,
) -> int:
    """Release a stuck lease and mark stuck STARTED/RUNNING clients as cut short (resumed first next run).

    Refuses while the run holding the stream is alive, unless --force. What it did is recorded on the
    run (abandoned, "released by fnf reset") and on each client.

    Example: fnf reset --type lead_scoring --stream 2
    """
    from fnf import commands

    commands.check_run_type(type_)
    number = commands.check_stream(stream)
    done = commands.reset(settings(Overrides(db=db)), type_, number, client or (), force=force)
    for line in done:
        typer.echo(line)
    if not done:
        typer.echo(f"nothing to reset: {type_} stream {number} has no lease and no stuck client")
    return EXIT_OK


def doctor(as_json: JsonOption = False) -> int:
    """Check configuration, store, schema, handlers and alert channels; one line per check, exit 1 if any fails.

    Example: fnf doctor
    """
    from fnf import commands

    checks = commands.doctor(settings)
    if as_json:
        typer.echo(json.dumps([{"check": c.name, "state": c.state, "detail": c.detail} for c in checks], indent=2))
    else:
        for check in checks:
            typer.echo(f"{check.state.upper():<5} {check.name:<26} {check.detail}")
    return EXIT_RUN_FAILED if any(c.state == "fail" for c in checks) else EXIT_OK


def health(
    max_age: Annotated[
        str,
        typer.Option("--max-age", metavar="AGE", help="Longest acceptable time since a stream's last finished sweep."),
    ] = "26h",
    window: Annotated[
        str, typer.Option("--window", metavar="AGE", help="Only (type, stream) pairs that ran within this age.")
    ] = "7d",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """For monitors: exit 0 if every (type, stream) that ran recently finished a sweep within --max-age and
    no run is stale; else exit 1 with one line per problem.

    Example: fnf health --max-age 3h
    """
    from fnf import commands

    oldest = commands.parse_age(max_age, flag="--max-age")
    recent = commands.parse_age(window, flag="--window")
    checked, problems = commands.health(settings(Overrides(db=db)), max_age=oldest, window=recent)
    if as_json:
        typer.echo(json.dumps({"healthy": not problems, "checked": checked, "problems": problems}, indent=2))
    elif problems:
        for problem in problems:
            typer.echo(problem)
    else:
        typer.echo(f"healthy: {checked} (type, stream) pair(s) finished a sweep within {max_age}; no stale run")
    return EXIT_RUN_FAILED if problems else EXIT_OK


def plan(
    type_: TypeOption,
    stream: StreamOption,
    concurrency: ConcurrencyOption = None,
    job_timeout: Annotated[
        str | None,
        typer.Option(
            "--job-timeout",
            metavar="LIMIT",
            help="Plan for this job limit instead of MAX_JOB_PROCESSING_HOURS (2h, 45m, or hours). Example: 45m",
        ),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """The clients the next run would process, in order, with predicted start and finish times from
    their recent runs (p90), and which would not fit before the job deadline. Changes nothing.

    Example: fnf plan --type lead_scoring --stream 2 --job-timeout 45m
    """
    from fnf import commands
    from fnf.run.request import RunRequest

    commands.check_run_type(type_)
    number = commands.check_stream(stream)
    overrides = Overrides(db=db, concurrency=concurrency, job_timeout=job_timeout)
    rows = commands.predict(settings(overrides), RunRequest(type_, number))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        typer.echo(f"nothing to do: {type_} stream {number} has no client left in its sweep")
        return EXIT_OK
    late = sum(1 for r in rows if not r["fits"])
    unknown = sum(1 for r in rows if r["estimated"] and r["start"] == r["finish"])
    for index, row in enumerate(rows, 1):
        typer.echo(f"{index:>4}. {_plan_line(row)}")
    summary = (
        f"{len(rows)} client(s); {late} would not fit before the job deadline"
        if late
        else f"{len(rows)} client(s), all fit"
    )
    if unknown:
        summary += f"; {unknown} never ran, so their duration is unknown and counted as nothing"
    typer.echo(summary)
    return EXIT_OK


def _plan_line(row: dict[str, Any]) -> str:
    from fnf.models import human_duration

    note = " resumed" if row["resumed"] else ""
    start, finish = row["start"][11:19], row["finish"][11:19]
    if row["estimated"] and row["start"] == row["finish"]:
        return f"{row['id']} ({row['name']}){note}: starts {start} UTC, duration unknown (never ran)"
    took = human_duration(row["typical_seconds"]) if row["typical_seconds"] is not None else "unknown"
    estimated = " (estimated: the median of the measured clients)" if row["estimated"] else ""
    mark = "" if row["fits"] else "  (after the job deadline)"
    return f"{row['id']} ({row['name']}){note}: {start} -> {finish} UTC, typical {took}{estimated}{mark}"


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", envvar="PORT", help="Port to listen on (PORT on Render); 0 picks a free one.")
    ] = 8080,
) -> int:
    """HTTP trigger for schedulers that can only call a URL: POST /api/batch-process-v2?type=T&stream=N
    starts a background run and answers 202 {"jobId", "runId", "message"} once it holds its stream (409
    busy, 400 bad type or stream, 422 no handler or no clients); GET /api/runs/ID; GET /health.
    Requires CRON_SECRET (callers send Authorization: Bearer <CRON_SECRET>).

    Example: fnf serve --host 0.0.0.0 --port 8080   (with CRON_SECRET set)
    """
    from fnf.serve import make_server

    server = make_server(settings(), host, port)
    bound_host, bound_port = server.server_address[:2]
    typer.echo(f"fnf serve: listening on http://{bound_host!s}:{bound_port}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK
