"""What a run reads of an Airtable base: the Clients table once when it holds its stream (clients
and their states together) and once at the end of its sweep; nothing at all when the stream is busy.
A listing costs a request per 100 clients, every month, on every run."""

from __future__ import annotations

import json
from pathlib import Path

from acceptance.conftest import make_project
from processes import wait_until

from fnf.testing.airtable_emulator import Emulator


def _client_listings(emulator: Emulator, since: int) -> int:
    return sum(1 for method, path, *_ in emulator.stats.log[since:] if method == "GET" and path.endswith("/Clients"))


def test_a_run_lists_its_stream_once_to_start_and_once_at_the_sweeps_end(emulator: Emulator, tmp_path: Path) -> None:
    project = make_project(tmp_path, "airtable", emulator)
    project.clients([{"id": f"c{i:03d}", "name": f"C{i}", "stream": 1, "mode": "ok"} for i in range(120)])
    before = len(emulator.stats.log)
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--concurrency", "4")
    assert result.returncode == 0, result.stderr
    assert sorted(project.ledger()) == [f"c{i:03d}" for i in range(120)]
    # two pages of 100 per listing: the start's (clients with their states) and the sweep's end's
    assert _client_listings(emulator, before) == 4, emulator.stats.log[before:]


def test_a_run_that_finds_its_stream_busy_reads_no_client(emulator: Emulator, tmp_path: Path) -> None:
    project = make_project(tmp_path, "airtable", emulator)
    gate = tmp_path / "gate"
    project.clients([{"id": "a", "name": "A", "stream": 1, "mode": "gate"}])
    holder = project.popen("run", "-t", "lead_scoring", "-s", "1", env={"FNF_TEST_GATE": str(gate)})
    wait_until(lambda: Path(f"{gate}.waiting").exists(), 60)
    before = len(emulator.stats.log)
    busy = project.fnf("run", "-t", "lead_scoring", "-s", "1")
    assert busy.returncode == 0 and "busy" in busy.stdout + busy.stderr, busy.stderr
    assert _client_listings(emulator, before) == 0
    gate.touch()
    holder.communicate(timeout=60)
    assert holder.returncode == 0


def test_fnf_plan_lists_the_stream_once_and_predicts_from_its_history(emulator: Emulator, tmp_path: Path) -> None:
    project = make_project(tmp_path, "airtable", emulator)
    project.clients([{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "ok", "seconds": 0.3} for i in range(3)])
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    before = len(emulator.stats.log)
    result = project.fnf("plan", "-t", "lead_scoring", "-s", "1", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ["c0", "c1", "c2"]
    assert all(r["typical_seconds"] and not r["estimated"] for r in rows), rows
    assert _client_listings(emulator, before) == 1
