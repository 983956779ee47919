"""The process server that starts and watches every client's work: its death is the run's failure,
never a leftover process or a lost client."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from acceptance.conftest import Project
from processes import alive, read_pids, wait_until

from fnf.proc.linux import children_of


def _server_of(runner: int) -> int:
    for pid in children_of(runner):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"fnf.proc.server" in command:
            return pid
    raise AssertionError(f"runner {runner} has no process server among its children")


def test_killing_the_process_server_fails_the_run_and_the_next_run_redoes_its_clients(
    project: Project, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    project.clients(
        [
            {"id": "a", "name": "A", "stream": 1, "mode": "gate"},
            {"id": "b", "name": "B", "stream": 1, "mode": "escape"},
        ]
    )
    env = {"FNF_TEST_GATE": str(gate)}
    proc = project.popen("run", "-t", "lead_scoring", "-s", "1", "--concurrency", "2", env=env)
    wait_until(lambda: Path(f"{gate}.waiting").exists() and len(project.pids()) >= 3, 60)
    os.kill(_server_of(proc.pid), signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "process server" in err and "killed by SIGKILL" in err
    wait_until(lambda: alive(project.pids()) == [], 10)  # the work, and the escaped grandchild too
    gate.touch()
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "2s", env=env)
    assert result.returncode == 0, result.stderr
    jobs = {c["id"]: c["jobs"]["lead_scoring"]["status"] for c in project.status("--all")["clients"]}
    assert jobs == {"a": "COMPLETED", "b": "CLIENT_TIMEOUT_KILLED"}
    assert project.ledger() == ["a"]
    assert alive(project.pids()) == []


def test_a_handler_sees_the_env_files_settings_when_imported_and_when_called(project: Project) -> None:
    (project.path / "partner.py").write_text(
        "import json, os\n"
        "AT_IMPORT = os.environ.get('PARTNER_REGION')\n"
        "def score(client, ctx):\n"
        "    with open(os.environ['PARTNER_OUT'] + '/' + client.id, 'w') as f:\n"
        "        json.dump([AT_IMPORT, os.environ.get('PARTNER_REGION')], f)\n"
        "    return 1\n"
    )
    env_file = project.path / "project.env"
    env_file.write_text(f"PARTNER_REGION=eu-west\nPARTNER_OUT={project.path}\n")
    project.clients([{"id": "a", "name": "A", "stream": 1}, {"id": "b", "name": "B", "stream": 1}])
    result = project.fnf(
        "run",
        "-t",
        "lead_scoring",
        "-s",
        "1",
        env={
            "FNF_ENV_FILE": str(env_file),
            "FNF_HANDLER_LEAD_SCORING": "partner:score",
            "PYTHONPATH": f"{project.path}{os.pathsep}{project.env['PYTHONPATH']}",
        },
    )
    assert result.returncode == 0, result.stderr
    for client in ("a", "b"):
        assert json.loads((project.path / client).read_text()) == ["eu-west", "eu-west"]


def test_killing_the_process_server_leaves_no_command_behind(project: Project, tmp_path: Path) -> None:
    """A command is spawned (it does not die with the server by itself): the runner kills it, and
    the daemon it started in a session of its own."""
    pids, gate = tmp_path / "pids", tmp_path / "gate"
    script = tmp_path / "work.sh"
    script.write_text(
        f"echo $$ >> {pids}\n"
        f"(setsid sleep 3600 & echo $! >> {pids})\n"
        f"while [ ! -e {gate} ]; do sleep 0.02; done\necho '{{\"count\": 1}}'\n"
    )
    project.clients([{"id": "a", "name": "A", "stream": 1}, {"id": "b", "name": "B", "stream": 1}])
    env = {"FNF_HANDLER_LEAD_SCORING": "", "FNF_COMMAND_LEAD_SCORING": f"sh {script}"}
    proc = project.popen("run", "-t", "lead_scoring", "-s", "1", "--concurrency", "2", env=env)
    wait_until(lambda: len(read_pids(pids)) == 4, 60)
    assert len(alive(read_pids(pids))) == 4
    os.kill(_server_of(proc.pid), signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "process server" in err
    wait_until(lambda: alive(read_pids(pids)) == [], 10)
    gate.touch()
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", env=env)
    assert result.returncode == 0, result.stderr
    jobs = {c["id"]: c["jobs"]["lead_scoring"]["status"] for c in project.status("--all")["clients"]}
    assert jobs == {"a": "COMPLETED", "b": "COMPLETED"}
    assert alive(read_pids(pids)) == []
