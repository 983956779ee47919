"""``fnf run``: one run of (type, stream)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fnf.cli.common import ConcurrencyOption, DbOption, JsonOption, settings
from fnf.config import Overrides
from fnf.errors import EXIT_OK
from fnf.models import RUN_TYPES


def run(
    type_: Annotated[
        str,
        typer.Option(
            "--type",
            "-t",
            metavar="TYPE",
            help=f"Job type: {', '.join(RUN_TYPES)} ('all' does every type per client). Example: --type lead_scoring",
        ),
    ],
    stream: Annotated[
        str, typer.Option("--stream", "-s", metavar="N", help="Processing stream (1, 2, 3 ...). Example: --stream 2")
    ],
    client: Annotated[
        list[str] | None,
        typer.Option(
            "--client", "-c", metavar="ID", help="Process only this client id (repeatable). Example: --client rec42"
        ),
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="Also retry clients that FAILED or hit their own limit in this sweep."),
    ] = False,
    new_sweep: Annotated[
        bool, typer.Option("--new-sweep", help="Close the open sweep and start over with every client.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the clients the run would process, in order; change nothing.")
    ] = False,
    admit_by_history: Annotated[
        bool,
        typer.Option(
            "--admit-by-history",
            help="Do not start a client whose typical duration (p90 of its recent runs) cannot fit in the time "
            "left; stop there, and the next run starts with it.",
        ),
    ] = False,
    client_timeout: Annotated[
        str | None,
        typer.Option(
            "--client-timeout",
            metavar="DURATION",
            help="Per-client limit (overrides MAX_CLIENT_PROCESSING_MINUTES). Example: 90s, 10m",
        ),
    ] = None,
    job_timeout: Annotated[
        str | None,
        typer.Option(
            "--job-timeout",
            metavar="DURATION",
            help="Whole-run limit (overrides MAX_JOB_PROCESSING_HOURS). Example: 2h, 45m",
        ),
    ] = None,
    grace: Annotated[
        str | None,
        typer.Option(
            "--grace",
            metavar="DURATION",
            help="Time between SIGTERM and SIGKILL (overrides FNF_KILL_GRACE_SECONDS). Example: 10s",
        ),
    ] = None,
    concurrency: ConcurrencyOption = None,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Start the run in the background, detached from the terminal; print its run id and log, return.",
        ),
    ] = False,
    run_id: Annotated[str | None, typer.Option("--run-id", hidden=True)] = None,
    job_id: Annotated[str | None, typer.Option("--job-id", hidden=True)] = None,
    report_fd: Annotated[int | None, typer.Option("--report-fd", hidden=True)] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """Process the clients of one stream, resuming where the last run stopped.

    Example: fnf run --type lead_scoring --stream 2
    """
    from fnf import commands
    from fnf.cli import render
    from fnf.run.request import RunRequest

    commands.check_run_type(type_)
    stream_number = commands.check_stream(stream)
    config = settings(
        Overrides(
            db=db, client_timeout=client_timeout, job_timeout=job_timeout, kill_grace=grace, concurrency=concurrency
        ),
        interactive=dry_run,
    )
    request = RunRequest(
        run_type=type_,
        stream=stream_number,
        client_ids=tuple(dict.fromkeys(client or [])),
        retry_failed=retry_failed,
        new_sweep=new_sweep,
        dry_run=dry_run,
        admit_by_history=admit_by_history,
        run_id=run_id,
        job_id=job_id,
    )
    if detach and not dry_run:
        return _detach(config, request, client_timeout, job_timeout, grace, concurrency, db, as_json)
    if dry_run:
        tasks = commands.plan(config, request)
        if as_json:
            typer.echo(json.dumps(render.plan_document(request, tasks), indent=2))
        else:
            render.print_plan(request, tasks)
        return EXIT_OK
    observer = _observer(
        render.RunProgressView(config.job_timeout) if render.progress_wanted(as_json) else None, report_fd
    )
    report = commands.run(config, request, progress=observer)
    if as_json:
        typer.echo(json.dumps(render.report_document(report), indent=2))
    else:
        render.print_report(report)
    return report.exit_code


def _observer(progress: Any, report_fd: int | None) -> Any:
    """The progress bar, and the report to whoever started this run in the background."""
    if report_fd is None:
        return progress
    from fnf.background import Announcer
    from fnf.run.observers import Observers

    announcer = Announcer(report_fd)
    return announcer if progress is None else Observers(progress, announcer)


def _detach(
    config: Any,
    request: Any,
    client_timeout: str | None,
    job_timeout: str | None,
    grace: str | None,
    concurrency: str | None,
    db: str | None,
    as_json: bool,
) -> int:
    from fnf import background, commands

    commands.check_handlers(config, request.run_type)  # a bad handler fails here, not in a log nobody reads
    args: list[str] = []
    for client_id in request.client_ids:
        args += ["--client", client_id]
    for flag, on in (
        ("--retry-failed", request.retry_failed),
        ("--new-sweep", request.new_sweep),
        ("--admit-by-history", request.admit_by_history),
    ):
        if on:
            args.append(flag)
    for flag, value in (
        ("--client-timeout", client_timeout),
        ("--job-timeout", job_timeout),
        ("--grace", grace),
        ("--concurrency", concurrency),
    ):
        if value is not None:
            args += [flag, value]
    if db is not None:
        args += ["--db", str(Path(db).resolve())]
    launched = background.launch(request.run_type, request.stream, args)
    started = launched.started
    if as_json:
        document = {
            "run_id": started.run_id,
            "job_id": started.job_id,
            "pid": started.pid,
            "log": str(started.log),
            "state": launched.state,
            "message": launched.message,
        }
        typer.echo(json.dumps(document, indent=2))
    elif launched.state == "started":
        typer.echo(f"started run {started.run_id} ({started.job_id}) in the background, pid {started.pid}")
        typer.echo(f"log: {started.log}")
        typer.echo(f"follow it with: fnf status --stream {request.stream}; stop it with: fnf stop {started.run_id}")
    else:
        typer.echo(f"run {started.run_id} did not start its work ({launched.state}): {launched.message}", err=True)
        typer.echo(f"log: {started.log}", err=True)
    return _launch_exit(launched)


def _launch_exit(launched: Any) -> int:
    """0 only for a run that took its stream (or found it busy, as a foreground run would)."""
    from fnf.errors import EXIT_NO_CLIENTS, EXIT_RUN_FAILED

    if launched.state in ("started", "busy", "completed", "stopped_at_deadline"):
        return EXIT_OK
    if launched.state == "no_clients":
        return EXIT_NO_CLIENTS
    if launched.state == "exited" and launched.exit_code is not None:
        return int(launched.exit_code)
    return EXIT_RUN_FAILED


def stop(
    run: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run id (or job id, or an 8+ character prefix).")],
    wait: Annotated[
        float, typer.Option("--wait", metavar="SECONDS", help="Wait up to SECONDS for the run to end.")
    ] = 0.0,
    db: DbOption = None,
) -> int:
    """Ask a running run to stop cleanly (SIGTERM: it records where it stopped; the next run resumes there).

    Example: fnf stop 3f2a9c1e --wait 30
    """
    from fnf import background

    typer.echo(background.stop(settings(Overrides(db=db)), run, wait=wait))
    return EXIT_OK
