"""FNF_WRITE_BATCH on real runs: one Airtable request carries five starts and five ends, and a
kill -9 repeats at most the batch, never loses a client."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from acceptance.conftest import Project, finish_sweep, make_project
from processes import alive

from fnf.testing.airtable_emulator import Emulator


def test_a_batch_of_five_costs_a_fifth_of_a_request_per_client_on_airtable(emulator: Emulator, tmp_path: Path) -> None:
    project = make_project(tmp_path, "airtable", emulator)
    project.clients([{"id": f"c{i:02d}", "name": f"C{i}", "stream": 1, "mode": "ok"} for i in range(40)])
    before = len(emulator.stats.log)
    # Heartbeats as shipped (minutes apart): on a loaded machine the suite's 1.2 s heartbeat would
    # add a RUNNING write of the client in flight, which is not what this counts.
    env = {"FNF_WRITE_BATCH": "5", "HEARTBEAT_INTERVAL_MINUTES": "5"}
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", env=env)
    assert result.returncode == 0, result.stderr
    writes = [
        n for method, path, _, n in emulator.stats.log[before:] if method == "PATCH" and path.endswith("/Clients")
    ]
    assert sum(writes) == 80, f"every client: one start, one end: {writes}\n{result.stderr}"
    assert len(writes) <= 9, f"{len(writes)} requests for 40 clients: {writes}"
    assert set(project.ledger()) == {f"c{i:02d}" for i in range(40)}


def test_at_concurrency_8_the_ends_gathered_while_the_pace_waits_share_the_starts_request(
    emulator: Emulator, tmp_path: Path
) -> None:
    project = make_project(tmp_path, "airtable", emulator, rate_limit=5)  # Airtable's own pace
    project.clients([{"id": f"c{i:02d}", "name": f"C{i}", "stream": 1, "mode": "ok"} for i in range(40)])
    before = len(emulator.stats.log)
    env = {"HEARTBEAT_INTERVAL_MINUTES": "5"}
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--concurrency", "8", env=env)
    assert result.returncode == 0, result.stderr
    writes = [
        n for method, path, _, n in emulator.stats.log[before:] if method == "PATCH" and path.endswith("/Clients")
    ]
    assert sum(writes) == 80, f"every client: one start, one end: {writes}\n{result.stderr}"
    # The ideal is 8 requests of 10; waiting in the store's pacer instead of for the clients in
    # flight sent one end and one start at a time (16 or more requests).
    assert len(writes) <= 12, f"{len(writes)} requests for 40 clients: {writes}"
    assert sorted(project.ledger()) == [f"c{i:02d}" for i in range(40)]


@pytest.mark.slow  # many runs, each killed at a random instant: the slow suite holds them
@pytest.mark.timeout(600)  # a dozen runs and their takeovers on a loaded machine
def test_kill_minus_9_with_a_batch_repeats_at_most_the_batch_and_loses_nothing(project: Project) -> None:
    clients = [f"c{i:02d}" for i in range(30)]
    project.clients([{"id": c, "name": f"Client {c}", "stream": 1, "mode": "ok", "seconds": 0.2} for c in clients])
    rng = random.Random(7)
    kills = 0
    while kills < 6:
        proc = project.popen("run", "-t", "lead_scoring", "-s", "1", env={"FNF_WRITE_BATCH": "5"})
        time.sleep(rng.uniform(0.3, 1.2))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        time.sleep(0.05)
        assert alive(project.pids()) == []
    finish_sweep(project)
    assert kills >= 3, "most kills landed mid-sweep"
    jobs = project.jobs()
    assert {c: jobs[c]["status"] for c in clients} == dict.fromkeys(clients, "COMPLETED")
    done = Counter(project.ledger())
    assert set(done) == set(clients)
    repeats = sum(n - 1 for n in done.values())
    assert repeats <= 5 * kills, f"{repeats} repeated completions after {kills} kills of batch 5"
    assert project.integrity() == "ok"
