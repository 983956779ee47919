"""``fnf status``: where every stream and client stands."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from fnf.cli.common import DbOption, JsonOption, settings
from fnf.config import Overrides
from fnf.errors import EXIT_OK


def status(
    type_: Annotated[
        str | None,
        typer.Option("--type", "-t", metavar="TYPE", help="Only this job type. Example: --type post_scoring"),
    ] = None,
    stream: Annotated[
        str | None, typer.Option("--stream", "-s", metavar="N", help="Only this stream. Example: --stream 1")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """Show every stream's sweep and live run, and every client's status per job type.

    --json prints the stable status document: {"clients": [{"id", "name", "stream", "jobs":
    {TYPE: {"status", "job_id", "last_run_date", "last_run_seconds", "count", ...}}}], "runs":
    [...], "streams": [...]}.

    Example: fnf status --stream 2 --json
    """
    from fnf import app
    from fnf.cli import render

    if type_ is not None:
        app.check_run_type(type_)
    stream_number = app.check_stream(stream) if stream is not None else None
    document = app.status(settings(Overrides(db=db)), run_type=type_, stream=stream_number)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        render.print_status(document)
    return EXIT_OK
