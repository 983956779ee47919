"""Operators at work during a run: a client removed or moved is not started by the run that lost
it, and no client ever runs in two streams at once. A gated client keeps the run in flight while
the operator acts, so "during a run" does not depend on timing."""

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


def rows(count: int, gated: str) -> list[dict[str, object]]:
    return [
        {"id": f"c{i:02d}", "name": f"C{i}", "stream": 1, "mode": "gate" if f"c{i:02d}" == gated else "ok"}
        for i in range(count)
    ]


def test_a_client_removed_during_a_run_is_not_started(any_project: Project, tmp_path: Path) -> None:
    project = any_project
    gate = tmp_path / "gate"
    project.clients(rows(6, gated="c01"))
    proc = project.popen("run", "-t", "lead_scoring", "-s", "1", "--json", env={"FNF_TEST_GATE": str(gate)})
    wait_until(lambda: Path(f"{gate}.waiting").exists(), 60)
    removed = project.fnf("clients", "remove", "c04")
    assert removed.returncode == 0, removed.stderr
    gate.touch()
    out, err = proc.communicate(timeout=120)
    report = json.loads(out)
    assert sorted(project.ledger()) == ["c00", "c01", "c02", "c03", "c05"]
    assert report["completed"] == 5 and report["skipped"] == 1, err
    assert "left the stream or ran elsewhere before their start: c04" in report["message"]


def test_streams_assign_during_a_run_never_runs_a_client_twice_at_once(any_project: Project, tmp_path: Path) -> None:
    """On both stores: on SQLite the start's transaction also refuses it; on Airtable only the run's
    own check stands between c01 and a second run of it at the same time."""
    project = any_project
    gate, spans_file = tmp_path / "gate", tmp_path / "spans"
    env = {"FNF_TEST_SPANS": str(spans_file), "FNF_TEST_GATE": str(gate)}
    project.clients(rows(12, gated="c01"))
    first = project.popen("run", "-t", "lead_scoring", "-s", "1", "--json", env=env)
    wait_until(lambda: Path(f"{gate}.waiting").exists(), 60)  # c00 done, c01 in flight in stream 1
    assigned = project.fnf("streams", "assign", "--streams", "2", "--yes")  # odd clients, c01 too, to stream 2
    assert assigned.returncode == 0, assigned.stderr
    assert "warning: a live run holds lead_scoring stream 1" in assigned.stdout, assigned.stdout
    second = project.fnf("run", "-t", "lead_scoring", "-s", "2", "--json", env=env, timeout=120)
    gate.touch()
    reports = [json.loads(first.communicate(timeout=120)[0]), json.loads(second.stdout)]
    ran = spans(spans_file)
    for client, times in ran.items():
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(sorted(times))), (client, times)
    assert sorted(ran) == [f"c{i:02d}" for i in range(12)] and all(len(t) == 1 for t in ran.values()), ran
    assert reports[0]["skipped"] == 5, "stream 1 left c03, c05 ... c11 to their new stream"
    assert reports[1]["skipped"] == 1 and "c01" in reports[1]["message"], "c01 was in flight in stream 1"
    assert (reports[0]["completed"], reports[1]["completed"]) == (7, 5)
