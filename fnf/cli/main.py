"""The ``fnf`` command: the Typer app and the one place that turns errors into exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

try:  # Typer >= 0.29 vendors Click; older releases use Click itself.
    from typer.exceptions import TyperException as ClickError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException as ClickError  # type: ignore[import-not-found,no-redef,unused-ignore]

from fnf import __version__, interrupts
from fnf.cli.alerts import alerts_app
from fnf.cli.clients import clients_app
from fnf.cli.common import LOG_FORMATS, setup_logging
from fnf.cli.deploy import deploy
from fnf.cli.history import history_app
from fnf.cli.ops import doctor, health, plan, reset, serve
from fnf.cli.run import run, stop
from fnf.cli.schema import schema_app
from fnf.cli.status import status
from fnf.cli.streams import streams_app
from fnf.errors import EXIT_OK, EXIT_SIGINT, EXIT_USAGE, FnfError, UsageError
from fnf.models import shown

EXIT_CODES_HELP = """Exit codes: 0 the run did its work or stopped as planned (deadline reached, stream
busy, nothing to do; client failures are recorded, not exit codes); 1 the run itself failed
(store unreachable past the retry budget, lease lost, internal error); 2 usage or
configuration error (an Airtable base lacking a field included), nothing changed; 129 / 130 /
143 stopped by SIGHUP / SIGINT / SIGTERM after recording where it stopped."""

app = typer.Typer(
    name="fnf",
    help="fnf (fire-and-forget): resumable, deadline-bounded per-client batch runs for cron.\n\n"
    "Example: fnf run --type lead_scoring --stream 2",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fnf {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def root(
    ctx: typer.Context,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log detail on stderr.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            envvar="FNF_LOG_FORMAT",
            metavar="FORMAT",
            help="text (timestamped lines) or json (one object per line). Example: --log-format json",
        ),
    ] = "text",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """fnf (fire-and-forget): resumable, deadline-bounded per-client batch runs for cron."""
    source = ctx.get_parameter_source("log_format")
    where = "from the environment" if source is not None and source.name == "ENVIRONMENT" else None
    if source is not None and source.name == "DEFAULT":  # .env counts, as for every other setting
        from fnf.config.values import load_environ

        try:
            values, sources = load_environ(warn=False)  # warnings once logging is set up
        except FnfError:  # the command's own settings say what is wrong (doctor as a failed check)
            values, sources = {}, {}
        log_format, where = values.get("FNF_LOG_FORMAT", log_format), sources.get("FNF_LOG_FORMAT")
    if log_format not in LOG_FORMATS:
        named = f"FNF_LOG_FORMAT={log_format!r} ({where})" if where else f"--log-format {log_format!r}"
        raise UsageError(f"{named} is not a log format: use one of {', '.join(LOG_FORMATS)}")
    setup_logging(-1 if quiet else verbose, log_format)


app.command("run", epilog=EXIT_CODES_HELP)(run)
app.command("status")(status)
app.add_typer(clients_app, name="clients")
app.add_typer(schema_app, name="schema")
app.add_typer(alerts_app, name="alerts")
app.add_typer(history_app, name="history")
app.add_typer(streams_app, name="streams")
app.command("reset")(reset)
app.command("doctor")(doctor)
app.command("health")(health)
app.command("plan")(plan)
app.command("deploy")(deploy)
app.command("stop")(stop)
app.command("serve")(serve)


@app.command("demo")
def demo(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to put the demo store (default: a new temporary directory).")
    ] = None,
) -> int:
    """Run the demo: sample clients, a run stopped by its deadline, a run that resumes, the status.

    Example: fnf demo
    """
    from fnf import commands
    from fnf.cli import render
    from fnf.demo import explanation, run_demo

    settings, reports = run_demo(directory, render.echo)
    render.echo("")
    render.print_status(commands.status(settings, run_type="lead_scoring", clients=False))
    render.print_status(commands.status(settings, run_type="lead_scoring", stream=1), overview=False, runs=False)
    for line in explanation(settings, reports):
        render.echo(line)
    return EXIT_OK if all(r.exit_code == EXIT_OK for r in reports) else reports[-1].exit_code


GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")
GLOBAL_VALUED = ("--log-format",)


def hoist_global_options(argv: list[str]) -> list[str]:
    """``fnf run ... -q`` as ``fnf -q run ...``: operators add -v or -q at the end of a cron line.
    Options before ``--`` only; the ones before the command stay where they are."""
    start = _command_index(argv)
    if start is None:
        return argv
    rest, hoisted, kept = argv[start + 1 :], [], []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            kept.extend(rest[i:])
            break
        if (
            arg in GLOBAL_FLAGS
            or (len(arg) > 2 and arg[0] == "-" and set(arg[1:]) == {"v"})
            or arg.startswith("--log-format=")
        ):
            hoisted.append(arg)
        elif arg in GLOBAL_VALUED and i + 1 < len(rest):
            hoisted.extend(rest[i : i + 2])
            i += 1
        else:
            kept.append(arg)
        i += 1
    return argv[:start] + hoisted + [argv[start]] + kept


def _command_index(argv: list[str]) -> int | None:
    """Where the command name is: the first word that is neither an option nor an option's value."""
    for i, arg in enumerate(argv):
        if not arg.startswith("-") and (i == 0 or argv[i - 1] not in GLOBAL_VALUED):
            return i
    return None


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        holds = _holds_interrupts(args)
        if not holds:
            interrupts.release()
        result = command.main(args=args, prog_name="fnf", standalone_mode=False)
        if holds:
            interrupts.release()  # a run that never took the held SIGINT (a usage error, --dry-run) ends 130
    except KeyboardInterrupt:
        return EXIT_SIGINT
    except FnfError as exc:
        print(f"fnf: error: {shown(str(exc), lines=True)}", file=sys.stderr)
        return exc.exit_code
    except ClickError as exc:
        exc.show()  # type: ignore[attr-defined]
        return exc.exit_code if exc.exit_code else EXIT_USAGE
    except typer.Abort:
        return EXIT_SIGINT
    except typer.Exit as exc:
        return exc.exit_code
    return result if isinstance(result, int) else EXIT_OK


def _holds_interrupts(args: list[str]) -> bool:
    """Only ``fnf run`` keeps SIGINT held: its signal guard adopts it as a stop request."""
    index = _command_index(args)
    return index is not None and args[index] == "run"


def run_cli() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run_cli()
