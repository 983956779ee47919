"""``fnf clients``: manage the clients of the SQLite store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fnf.cli.common import DbOption, JsonOption, settings
from fnf.config import Overrides
from fnf.errors import EXIT_OK

clients_app = typer.Typer(
    help="Import, list and remove clients. Example: fnf clients import clients.csv", no_args_is_help=True
)


@clients_app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="CSV file with columns id, name, stream, then any extra fields.")],
    db: DbOption = None,
) -> int:
    """Add or update clients from a CSV file; a bad row means nothing is imported.

    Example: fnf clients import clients.csv
    """
    from fnf import commands

    report = commands.import_clients(settings(Overrides(db=db)), path)
    typer.echo(f"imported {path}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged")
    return EXIT_OK


@clients_app.command("list")
def list_(
    stream: Annotated[
        str | None, typer.Option("--stream", "-s", metavar="N", help="Only this stream. Example: --stream 3")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """List clients in processing order.

    Example: fnf clients list --stream 1
    """
    from fnf import commands
    from fnf.cli import render

    stream_number = commands.check_stream(stream) if stream is not None else None
    found = commands.list_clients(settings(Overrides(db=db)), stream_number)
    if as_json:
        rows = [{"id": c.id, "name": c.name, "stream": c.stream, "fields": dict(c.fields)} for c in found]
        typer.echo(json.dumps(rows, indent=2))
    else:
        render.print_clients(found)
    return EXIT_OK


@clients_app.command("remove")
def remove(
    client_ids: Annotated[list[str], typer.Argument(help="Client ids to remove.")],
    db: DbOption = None,
) -> int:
    """Remove clients and their job states.

    Example: fnf clients remove rec42 rec43
    """
    from fnf import commands

    removed = commands.remove_clients(settings(Overrides(db=db)), client_ids)
    typer.echo(f"removed {removed} client(s)")
    return EXIT_OK


@clients_app.command("release")
def release(
    client_ids: Annotated[list[str], typer.Argument(help="Client ids to release from quarantine.")],
    type_: Annotated[
        str | None,
        typer.Option("--type", "-t", metavar="TYPE", help="Only this job type (default: every type)."),
    ] = None,
    db: DbOption = None,
) -> int:
    """Release quarantined clients: later sweeps process them again, their timeout count starts over.

    Example: fnf clients release rec42 --type lead_scoring
    """
    from fnf import commands

    if type_ is not None:
        commands.check_run_type(type_)
    released = commands.release_clients(settings(Overrides(db=db)), client_ids, type_)
    if released:
        typer.echo("released: " + ", ".join(released))
    else:
        typer.echo("none of these clients was quarantined; nothing changed")
    return EXIT_OK
