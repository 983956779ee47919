"""Clocks that disagree or step: who is dead is never decided by two wall clocks agreeing.

A second process gets a wall clock an hour off (tests/skewed_clock: ``time.time`` and
``datetime.now`` shifted, the monotonic and boot clocks not, as on a real host). On one host
heartbeats are aged on the boot clock; on Airtable they are written and judged on Airtable's
clock, read from its answers.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from acceptance.conftest import TESTS, Project
from processes import alive, wait_until

HOUR = 3600.0


@pytest.fixture
def project(any_project: Project) -> Project:
    return any_project


def skewed(project: Project, seconds: float) -> dict[str, str]:
    """The environment of an fnf whose wall clock is ``seconds`` off."""
    path = os.pathsep.join([str(TESTS / "skewed_clock"), project.env["PYTHONPATH"]])
    return {"PYTHONPATH": path, "FNF_TEST_CLOCK_SKEW_SECONDS": str(seconds)}


@pytest.mark.parametrize("holder_skew, newcomer_skew", [(0, HOUR), (-HOUR, 0)], ids=["ahead", "stepped_back"])
def test_a_healthy_run_is_never_taken_over_because_of_a_clock(
    project: Project, tmp_path: Path, holder_skew: float, newcomer_skew: float
) -> None:
    """A newcomer an hour ahead, or a holder whose clock is an hour behind: the stream is busy,
    the holder is not killed and keeps its stream, every client runs once."""
    project.clients(
        [{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "gate" if i == 0 else "ok"} for i in range(4)]
    )
    gate = tmp_path / "gate"
    holder = project.popen(
        "run", "-t", "lead_scoring", "-s", "1", "--json",
        env={"FNF_TEST_GATE": str(gate), **skewed(project, holder_skew)},
    )  # fmt: skip
    wait_until(Path(f"{gate}.waiting").exists, 60)
    time.sleep(1.5)  # a heartbeat or two
    for _ in range(2):
        newcomer = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json", env=skewed(project, newcomer_skew))
        assert newcomer.returncode == 0, newcomer.stderr
        assert json.loads(newcomer.stdout)["outcome"] == "busy", newcomer.stdout
        assert holder.poll() is None, "the holder is alive"
    gate.touch()
    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0 and json.loads(out)["outcome"] == "completed", err
    assert sorted(project.ledger()) == ["c0", "c1", "c2", "c3"]


def test_a_dead_run_whose_heartbeat_lies_in_the_future_does_not_block_its_stream(
    project: Project, tmp_path: Path
) -> None:
    """A run with a clock an hour ahead is killed -9 on "another host": its heartbeat is an hour in
    the future by the wall clock. The stream is taken over after the stale period, not never."""
    project.clients(
        [{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "gate" if i == 0 else "ok"} for i in range(3)]
    )
    gate = tmp_path / "gate"
    project.env["FNF_TEST_GATE"] = str(gate)
    doomed = project.popen("run", "-t", "lead_scoring", "-s", "1", env=skewed(project, HOUR))
    wait_until(Path(f"{gate}.waiting").exists, 60)
    project.set_run_host("elsewhere")
    doomed.kill()
    doomed.communicate()
    wait_until(lambda: alive(project.pids()) == [], 30)
    gate.touch()
    outcomes = []
    for _ in range(30):
        result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
        outcome = json.loads(result.stdout)["outcome"]
        outcomes.append(outcome)
        if outcome != "busy":
            break
        time.sleep(0.5)
    assert outcomes[-1] == "completed", outcomes
    assert sorted(project.ledger()) == ["c0", "c1", "c2"]
