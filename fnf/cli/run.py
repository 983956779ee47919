"""``fnf run``: one run of (type, stream)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from fnf.cli.common import DbOption, JsonOption, settings
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
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """Process the clients of one stream, resuming where the last run stopped.

    Example: fnf run --type lead_scoring --stream 2
    """
    from fnf import app
    from fnf.cli import render
    from fnf.runner import RunRequest

    app.check_run_type(type_)
    stream_number = app.check_stream(stream)
    config = settings(Overrides(db=db, client_timeout=client_timeout, job_timeout=job_timeout, kill_grace=grace))
    request = RunRequest(
        run_type=type_,
        stream=stream_number,
        client_ids=tuple(dict.fromkeys(client or [])),
        retry_failed=retry_failed,
        new_sweep=new_sweep,
        dry_run=dry_run,
        admit_by_history=admit_by_history,
    )
    if dry_run:
        tasks = app.plan(config, request)
        if as_json:
            typer.echo(json.dumps(render.plan_document(request, tasks), indent=2))
        else:
            render.print_plan(request, tasks)
        return EXIT_OK
    progress = render.RunProgressView() if render.progress_wanted(as_json) else None
    report = app.run(config, request, progress=progress)
    if as_json:
        typer.echo(json.dumps(render.report_document(report), indent=2))
    else:
        render.print_report(report)
    return report.exit_code
