"""The SQLite path never pays for the Airtable client library, nor for Prometheus or Sentry unless
they are configured."""

from __future__ import annotations

import subprocess
import sys

from acceptance.conftest import Project


def test_help_and_a_sqlite_run_do_not_import_pyairtable(project: Project) -> None:
    project.clients([{"id": "a", "name": "A", "stream": 1, "mode": "ok"}])
    code = (
        "import sys\n"
        "from fnf.cli.main import main\n"
        "main(['--help'])\n"
        "assert 'pyairtable' not in sys.modules, 'help imported pyairtable'\n"
        "main(['run', '-t', 'lead_scoring', '-s', '1'])\n"
        "assert 'pyairtable' not in sys.modules, 'a SQLite run imported pyairtable'\n"
        "assert 'prometheus_client' not in sys.modules, 'a run without metrics imported prometheus_client'\n"
        "assert 'sentry_sdk' not in sys.modules, 'a run without SENTRY_DSN imported sentry_sdk'\n"
        "print('clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project.path, env=project.env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("clean")


def _interrupted_while_starting(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """``fnf ARGS`` with a SIGINT delivered after the command's first line, before the CLI has loaded."""
    code = (
        "import os, signal, sys\n"
        "import fnf.__main__ as entry\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        f"sys.argv = ['fnf', *{list(args)!r}]\n"
        "entry.main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=project.path, env=project.env, capture_output=True, text=True, timeout=60
    )


def test_a_ctrl_c_while_the_run_starts_stops_it_before_any_client(project: Project) -> None:
    project.clients([{"id": "a", "name": "A", "stream": 1, "mode": "ok"}])
    result = _interrupted_while_starting(project, "run", "-t", "lead_scoring", "-s", "1")
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert project.ledger() == [], "no client started after the interrupt"
    assert project.status("--overview")["streams"][0]["live_run"] is None


def test_a_ctrl_c_while_another_command_starts_ends_it_with_130(project: Project) -> None:
    result = _interrupted_while_starting(project, "status")
    assert result.returncode == 130, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
