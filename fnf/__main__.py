"""``python -m fnf``: the same as the ``fnf`` command."""

from __future__ import annotations

from fnf.cli.main import run_cli

run_cli()
