"""Client data never reaches a shell, secrets never reach output, and fnf's files are private."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from acceptance.conftest import Project, _no_secret_in, make_project
from airtable_helpers import TOKEN
from processes import wait_until

from fnf.testing.airtable_emulator import Emulator

HOSTILE = [
    ("h1", "$(touch pwned-subst)"),
    ("h2", "`touch pwned-tick`"),
    ("h3", "x; touch pwned-semi"),
    ("h4", "a && touch pwned-and | cat > pwned-pipe"),
    ("h5", "'quoted' \"double\" \\back"),
]


def test_client_fields_reach_a_command_as_single_arguments_never_through_a_shell(project: Project) -> None:
    echo = project.path / "echo_args.py"
    echo.write_text(
        "import json, os, sys\n"
        "with open(os.path.join(os.environ['OUT_DIR'], sys.argv[1] + '.json'), 'w') as f:\n"
        "    json.dump(sys.argv[1:], f)\n"
    )
    lines = ["id,name,stream"] + [f'{cid},"{name.replace(chr(34), chr(34) * 2)}",1' for cid, name in HOSTILE]
    (project.path / "c.csv").write_text("\n".join(lines) + "\n")
    assert project.fnf("clients", "import", "c.csv").returncode == 0
    env = {
        "FNF_HANDLER_LEAD_SCORING": "",
        "FNF_COMMAND_LEAD_SCORING": f"{sys.executable} {echo} {{client_id}} {{client_name}}",
        "OUT_DIR": str(project.path),
    }
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", env=env)
    assert result.returncode == 0, result.stderr
    for cid, name in HOSTILE:
        assert json.loads((project.path / f"{cid}.json").read_text()) == [cid, name], "one argument, verbatim"
    assert not list(project.path.glob("pwned*")), "nothing was interpreted by a shell"


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_the_store_and_background_logs_are_readable_by_their_owner_only(project: Project) -> None:
    project.clients([{"id": "a", "name": "A", "stream": 1, "mode": "ok"}])
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    files = [project.db, *project.path.glob("fnf.db-*")]
    assert files and all(private(path) for path in files), {str(p): oct(p.stat().st_mode) for p in files}
    info = json.loads(project.fnf("run", "-t", "lead_scoring", "-s", "1", "--new-sweep", "--detach", "--json").stdout)
    log = Path(info["log"])
    wait_until(lambda: "completed" in log.read_text(), 30)
    assert private(log) and private(log.parent)


def test_a_verbose_background_run_on_airtable_logs_no_token(tmp_path: Path, emulator: Emulator) -> None:
    project = make_project(tmp_path, "airtable", emulator)
    project.clients([{"id": "a", "name": "A", "stream": 1, "mode": "ok"}])
    info = json.loads(project.fnf("-vv", "run", "-t", "lead_scoring", "-s", "1", "--detach", "--json").stdout)
    log = Path(info["log"])
    wait_until(lambda: "completed" in log.read_text(), 30)
    _no_secret_in("the background run's log", log.read_text())


def test_the_output_scan_catches_a_leaked_secret() -> None:
    with pytest.raises(AssertionError, match="printed a secret"):
        _no_secret_in("fnf status", "all good", f"Authorization: Bearer {TOKEN}")
    _no_secret_in("fnf status", "nothing to see", None)
