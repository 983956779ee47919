"""``fnf schema``: check an Airtable base against what fnf needs, and create what it lacks."""

from __future__ import annotations

import json

import typer

from fnf.cli.common import JsonOption, settings
from fnf.errors import EXIT_OK, EXIT_RUN_FAILED

schema_app = typer.Typer(
    help="Check or prepare the Airtable base (FNF_STORE=airtable). Example: fnf schema check",
    no_args_is_help=True,
)


@schema_app.command("check")
def check(as_json: JsonOption = False) -> int:
    """List the tables, fields, field types and select options the base lacks; exit 1 if any.

    Example: fnf schema check
    """
    from fnf import commands

    problems = commands.schema_check(settings())
    if as_json:
        rows = [
            {"table": p.table, "field": p.field, "problem": p.what, "detail": p.detail, "fixable": p.fixable}
            for p in problems
        ]
        typer.echo(json.dumps({"ok": not problems, "problems": rows}, indent=2))
    elif problems:
        typer.echo(f"the base is not ready for fnf ({len(problems)} problem(s)):")
        for problem in problems:
            typer.echo(f"  - {problem}")
        fixable = sum(1 for p in problems if p.fixable)
        if fixable:
            typer.echo(f"fnf schema apply creates {fixable} of them; it never deletes or retypes a field")
    else:
        typer.echo("the base has every table, field and select option fnf needs")
    return EXIT_RUN_FAILED if problems else EXIT_OK


@schema_app.command("apply")
def apply() -> int:
    """Create the missing tables, fields and select options (never deletes or retypes); safe to repeat.

    Example: fnf schema apply && fnf schema check
    """
    from fnf import commands

    current = settings()
    done = commands.schema_apply(current)
    for line in done:
        typer.echo(line)
    if not done:
        typer.echo("nothing to do: the base already has what fnf creates")
    left = [p for p in commands.schema_check(current) if not p.fixable]
    for problem in left:
        typer.echo(f"still wrong (fix it in Airtable): {problem}")
    return EXIT_RUN_FAILED if left else EXIT_OK
