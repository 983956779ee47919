"""Operators at work during a run: a client removed or moved is not started by the run that lost
it, and no client ever runs in two streams at once."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path

from acceptance.conftest import Project
from processes import wait_until


def spans(path: Path) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for line in path.read_text().splitlines() if path.exists() else []:
        client, began, ended = line.split()
        out[client].append((float(began), float(ended)))
    return out


def test_a_client_removed_during_a_run_is_not_started(any_project: Project) -> None:
    project = any_project
    project.clients([{"id": f"c{i:02d}", "name": f"C{i}", "stream": 1, "mode": "ok", "seconds": 0.4} for i in range(8)])
    proc = project.popen("run", "-t", "lead_scoring", "-s", "1", "--json")
    wait_until(lambda: len(project.ledger()) >= 2, 60)
    removed = project.fnf("clients", "remove", "c07")
    assert removed.returncode == 0, removed.stderr
    out, err = proc.communicate(timeout=120)
    report = json.loads(out)
    assert "c07" not in project.ledger()
    assert report["completed"] == 7 and report["skipped"] == 1, err
    assert "left the stream or ran elsewhere before their start: c07" in report["message"]


def test_streams_assign_during_a_run_never_runs_a_client_twice_at_once(project: Project, tmp_path: Path) -> None:
    spans_file = tmp_path / "spans"
    env = {"FNF_TEST_SPANS": str(spans_file)}
    clients = [f"c{i:02d}" for i in range(16)]
    project.clients([{"id": c, "name": c, "stream": 1, "mode": "ok", "seconds": 0.5} for c in clients])
    first = project.popen("run", "-t", "lead_scoring", "-s", "1", "--json", env=env)
    wait_until(lambda: len(project.ledger()) >= 2, 60)
    assigned = project.fnf("streams", "assign", "--streams", "2", "--yes")
    assert assigned.returncode == 0, assigned.stderr
    second = project.popen("run", "-t", "lead_scoring", "-s", "2", "--json", env=env)
    reports = [json.loads(p.communicate(timeout=180)[0]) for p in (first, second)]
    ran = spans(spans_file)
    for client, times in ran.items():
        ordered = sorted(times)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ordered)), (client, ordered)
    moved = {c["id"] for c in project.status()["clients"] if c["stream"] == 2}
    started_by_first = set(project.ledger()[: reports[0]["completed"]])
    assert reports[0]["skipped"] >= 1, "the first run gave up the clients moved away"
    assert sum(len(t) for t in ran.values()) <= len(clients) + 1, "only the client in flight at the move may repeat"
    assert moved - started_by_first <= set(ran), "every moved client ran in its new stream"
