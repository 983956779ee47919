"""The process server that starts and watches every client's work: its death is the run's failure,
never a leftover process or a lost client."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from acceptance.conftest import Project
from processes import alive, wait_until

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
