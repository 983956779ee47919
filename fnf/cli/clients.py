"""``fnf clients``: manage the clients of the SQLite store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from fnf.cli.common import DbOption, JsonOption, masked, settings
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
    show_secrets: Annotated[
        bool,
        typer.Option("--show-secrets", help="Show fields whose names look secret (key, token, secret, password)."),
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """List clients in processing order. Fields whose names look secret are shown as ***.

    Example: fnf clients list --stream 1
    """
    from dataclasses import replace

    from fnf import commands
    from fnf.cli import render

    stream_number = commands.check_stream(stream) if stream is not None else None
    found = commands.list_clients(settings(Overrides(db=db)), stream_number)
    shown = [replace(c, fields=masked(dict(c.fields), show=show_secrets)) for c in found]
    if as_json:
        rows = [{"id": c.id, "name": c.name, "stream": c.stream, "fields": dict(c.fields)} for c in shown]
        typer.echo(json.dumps(rows, indent=2))
    else:
        render.print_clients(shown)
    return EXIT_OK


@clients_app.command("remove")
def remove(
    client_ids: Annotated[list[str], typer.Argument(help="Client ids to remove.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (at a terminal fnf asks first).")] = False,
    db: DbOption = None,
) -> int:
    """Remove clients and their job states. At a terminal, fnf lists them and asks first.

    Example: fnf clients remove rec42 rec43 --yes
    """
    from fnf import commands

    config = settings(Overrides(db=db))
    if not yes and sys.stdin.isatty():
        wanted = set(client_ids)
        named = [f"{c.id} ({c.name}, stream {c.stream})" for c in commands.list_clients(config) if c.id in wanted]
        typer.echo("remove, with their job states: " + ", ".join(named or client_ids))
        if not typer.confirm(f"remove {len(named or client_ids)} client(s)?", default=False):
            typer.echo("nothing removed")
            return EXIT_OK
    removed = commands.remove_clients(config, client_ids)
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
