"""Clients that fight back: processes that hop pids and sessions to outlive their runner."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest
from acceptance.conftest import Project
from processes import alive, wait_until


def _settled(project: Project) -> bool:
    """True once no hopper is alive and none has written its pid for a while."""
    before = len(project.pids())
    if alive(project.pids()[-20:]):
        return False
    time.sleep(0.3)
    return len(project.pids()) == before


def _hopper(project: Project, mode: str) -> None:
    project.clients([{"id": "hopper", "name": "Hopper", "stream": 1, "mode": mode, "seconds": 60}])


@pytest.mark.parametrize("mode", ["hop", "hop_below"])
def test_a_pid_hopping_process_dies_with_the_runner(project: Project, mode: str, tmp_path: Path) -> None:
    """kill -9 of the runner ends the client's whole tree, a process that forks, exits and calls
    setsid every millisecond or so included (its own bound is a minute). The runner is stopped
    (SIGSTOP) before the hopping starts, so it cannot help: only the client's guard can."""
    _hopper(project, mode)
    for trial in range(3):
        gate = tmp_path / f"gate{trial}"
        seen = len(project.pids())
        proc = project.popen(
            "run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "5m", env={"FNF_TEST_GATE": str(gate)}
        )
        if mode == "hop":
            wait_until(Path(f"{gate}.waiting").exists, 60)
            proc.send_signal(signal.SIGSTOP)
            gate.touch()
        if mode == "hop":
            time.sleep(0.5)  # the hopping begins (the guard may end it at once: its work has exited)
        else:
            wait_until(lambda seen=seen: len(project.pids()) >= seen + 30)  # type: ignore[misc]
        proc.kill()
        proc.communicate()
        wait_until(lambda: _settled(project), seconds=15)
        assert alive(project.pids()) == [], f"trial {trial}"


def test_a_pid_hopping_client_is_ended_while_the_runner_lives(project: Project) -> None:
    _hopper(project, "hop")
    project.clients([{"id": "after", "name": "After", "stream": 1, "mode": "ok"}])
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "2s")
    assert project.ledger() == ["after"], result.stderr
    wait_until(lambda: _settled(project), seconds=15)
    assert alive(project.pids()) == []


def test_a_flood_without_newlines_keeps_the_reason_at_its_end(project: Project, tmp_path: Path) -> None:
    """3 MB of stderr on one line, then the reason: the stored message is bounded and ends with
    the reason; the log keeps the head and the tail, in lines of bounded length."""
    script = tmp_path / "flood.py"
    script.write_text(
        "import sys\nsys.stderr.write('x' * 3_000_000 + ' ERROR: token expired for ' + sys.argv[1])\nsys.exit(3)\n"
    )
    project.clients([{"id": "c1", "name": "Flood", "stream": 1}, {"id": "c2", "name": "Next", "stream": 1}])
    env = {"FNF_HANDLER_LEAD_SCORING": "", "FNF_COMMAND_LEAD_SCORING": f"{sys.executable} {script} {{client_id}}"}
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", env=env)
    assert result.returncode == 0, result.stderr[-2000:]  # client failures are recorded, not exit codes
    message = project.job("c1")["message"]
    assert message.endswith("ERROR: token expired for c1") and len(message) <= 2000, message[-300:]
    assert project.job("c2")["status"] == "FAILED"  # the same command, the next client: still ran
    assert "ERROR: token expired for c1" in result.stderr
    assert max(len(line) for line in result.stderr.splitlines()) < 5000
