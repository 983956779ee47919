"""``fnf history``: past runs, and pruning old run records."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from fnf.cli.common import DbOption, JsonOption, StreamFilter, TypeFilter, settings
from fnf.config import Overrides
from fnf.errors import EXIT_OK

history_app = typer.Typer(
    help="Past runs as a table. Example: fnf history --stream 2", invoke_without_command=True, no_args_is_help=False
)


@history_app.callback()
def history(
    ctx: typer.Context,
    type_: TypeFilter = None,
    stream: StreamFilter = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs, newest first.")] = 50,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """Past runs, newest first: when, type, stream, duration, outcome, clients done / failed / timed out,
    where it stopped, alerts.

    Example: fnf history --type lead_scoring --stream 2 --json
    """
    if ctx.invoked_subcommand is not None:
        return EXIT_OK
    from fnf import commands
    from fnf.cli import render

    if type_ is not None:
        commands.check_run_type(type_)
    stream_number = commands.check_stream(stream) if stream is not None else None
    entries = commands.history(settings(Overrides(db=db)), run_type=type_, stream=stream_number, limit=limit)
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
    else:
        render.print_history(entries)
    raise typer.Exit(EXIT_OK)


@history_app.command("prune")
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", metavar="AGE", help="Delete runs that ended before this age. Example: 30d")
    ],
    db: DbOption = None,
) -> int:
    """Delete the records of runs that ended longer ago than AGE; live runs are never touched.

    Example: fnf history prune --older-than 30d
    """
    from fnf import commands

    removed = commands.prune_history(settings(Overrides(db=db)), older_than)
    typer.echo(f"pruned {removed} run record(s) that ended more than {older_than} ago")
    return EXIT_OK
