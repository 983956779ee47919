"""What every benchmark sets up: a scratch project with its own store, no .env, one handler."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

NOOP = "def noop(client, ctx):\n    return 0\n"
FNF = [sys.executable, "-m", "fnf", "-q"]


def project_env(directory: Path, handler: str = NOOP, function: str = "noop", **extra: str) -> dict[str, str]:
    """The environment of a benchmark project in ``directory`` whose lead_scoring handler is
    ``function`` from the module source ``handler``."""
    (directory / "bench_handler.py").write_text(handler)
    return {
        **os.environ,
        "FNF_DB": str(directory / "fnf.db"),
        "FNF_ENV_FILE": str(directory / "none.env"),
        "FNF_HANDLER_LEAD_SCORING": f"bench_handler:{function}",
        "PYTHONPATH": str(directory),
        **extra,
    }


def import_clients(directory: Path, env: dict[str, str], rows: Iterable[str], name: str = "c.csv") -> None:
    """Import clients given as CSV lines ``id,name,stream``."""
    (directory / name).write_text("id,name,stream\n" + "".join(f"{row}\n" for row in rows))
    subprocess.run([*FNF, "clients", "import", name], env=env, cwd=directory, check=True, stdout=subprocess.DEVNULL)
