"""``fnf streams``: how clients and work are spread over streams, and spreading them again."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from fnf.cli.common import DbOption, JsonOption, settings
from fnf.config import Overrides
from fnf.errors import EXIT_OK
from fnf.models import shown

streams_app = typer.Typer(help="Clients per stream. Example: fnf streams show", no_args_is_help=True)


def _rows(loads: list[Any]) -> list[dict[str, Any]]:
    return [
        {"stream": s.stream, "clients": s.clients, "seconds": round(s.seconds, 3), "unmeasured": s.unmeasured}
        for s in loads
    ]


def _print(loads: list[Any]) -> None:
    from fnf.models import human_duration

    for load in loads:
        name = f"stream {load.stream}" if load.stream is not None else "unassigned"
        extra = f" ({load.unmeasured} never measured)" if load.unmeasured else ""
        typer.echo(f"{name:<12} {load.clients:>5} client(s)  {human_duration(load.seconds) or '0 seconds':>14}{extra}")
    assigned = [s.seconds for s in loads if s.stream is not None]
    if len(assigned) > 1:
        typer.echo(
            f"imbalance: {human_duration(max(assigned) - min(assigned)) or '0 seconds'} between the "
            "heaviest and the lightest stream"
        )


@streams_app.command("show")
def show(db: DbOption = None, as_json: JsonOption = False) -> int:
    """Clients and measured work (last run durations, all job types) per stream, and the imbalance.

    Example: fnf streams show
    """
    from fnf import commands

    loads = commands.stream_loads(settings(Overrides(db=db)))
    if as_json:
        typer.echo(json.dumps(_rows(loads), indent=2))
    else:
        _print(loads)
    return EXIT_OK


@streams_app.command("assign")
def assign(
    count: Annotated[int, typer.Option("--streams", "-n", metavar="N", help="How many streams. Example: --streams 3")],
    balance: Annotated[
        bool, typer.Option("--balance", help="Balance by measured work instead of round-robin.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Write the assignment (without it: a preview).")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """Spread every client (unassigned ones included) over N streams: round-robin in stable order
    (stream 1 gets clients 1, N+1, 2N+1 ...), or --balance by measured work so streams finish together.
    Shows a preview; --yes writes it.

    Example: fnf streams assign --streams 3 --balance --yes
    """
    from fnf import commands

    done = commands.assign_streams(settings(Overrides(db=db)), count, balance=balance, write=yes)
    moved = len(done.moves)
    if as_json:
        moves = [{"id": i, "name": n, "from": a, "to": b} for i, n, a, b in done.moves]
        document = {
            "written": yes,
            "moved": moved,
            "moves": moves,
            "live_runs": done.live,
            "streams": _rows(done.loads),
        }
        typer.echo(json.dumps(document, indent=2))
        return EXIT_OK
    _print(done.loads)
    for client_id, name, before, after in done.moves[:MOVES_SHOWN]:
        typer.echo(f"  {shown(client_id)} ({shown(name)}): stream {before if before is not None else '-'} -> {after}")
    if moved > MOVES_SHOWN:
        typer.echo(f"  ... and {moved - MOVES_SHOWN} more (--json lists every one)")
    for live in done.live:
        typer.echo(
            f"warning: a live run holds {live}; a client moved while it is in flight finishes there and is not "
            "started twice, but the run's counts change under it (assign between runs where you can)"
        )
    if yes:
        typer.echo(f"written: {moved} client(s) moved")
    else:
        typer.echo(f"preview only: {moved} client(s) would move; add --yes to write")
    return EXIT_OK


MOVES_SHOWN = 20
