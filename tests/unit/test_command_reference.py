"""README's command reference and the real CLI describe the same commands and options."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from fnf.cli.main import app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
ROWS = [line for line in README.splitlines() if line.startswith("| `fnf ")]


def _commands() -> dict[tuple[str, ...], Any]:
    found: dict[tuple[str, ...], Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", {})
        if path and (not subcommands or getattr(command, "invoke_without_command", False)):
            found[path] = command
        for name, sub in subcommands.items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def _owner(row: str) -> tuple[str, ...] | None:
    """The command a README row documents: the longest command whose words start its usage."""
    words = tuple(row.split("`")[1].split()[1:])
    return next((p for p in sorted(COMMANDS, key=len, reverse=True) if words[: len(p)] == p), None)


def test_every_command_is_in_the_readme() -> None:
    documented = {_owner(row) for row in ROWS}
    missing = [" ".join(path) for path in COMMANDS if path not in documented]
    assert missing == [], f"commands missing from README's reference: {missing}"


def test_every_readme_command_exists_and_its_options_are_real() -> None:
    for row in ROWS:
        path = _owner(row)
        assert path is not None, f"README documents a command fnf does not have: {row.split('`')[1]}"
        options = {opt for param in COMMANDS[path].params for opt in getattr(param, "opts", [])}
        mentioned = set(re.findall(r"(--[a-z][a-z-]+)", row.split("|")[1] + row.split("|")[2]))
        unknown = sorted(mentioned - options - {"--help"})
        assert unknown == [], f"README row for fnf {' '.join(path)} mentions options it does not have: {unknown}"
