"""README's two set-up commands stay true: CI runs the test command exactly as written."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_commands_demo_then_tests() -> None:
    commands = setup_commands()
    assert len(commands) == 2
    assert commands[0].endswith("fnf demo")
    assert commands[1].endswith("pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    assert setup_commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()
