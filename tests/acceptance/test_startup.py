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
