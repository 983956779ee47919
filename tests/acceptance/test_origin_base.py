"""An Airtable base laid out as operators already have it: the origin's fields, typed by hand,
records fnf never created. fnf must process every client of it, and name what it cannot."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acceptance.conftest import Project, make_project
from airtable_helpers import TOKEN
from pyairtable import Api

from fnf.testing.airtable_emulator import Emulator

STATUSES = ["STARTED", "RUNNING", "COMPLETED", "CLIENT_TIMEOUT_KILLED", "JOB_TIMEOUT_KILLED", "FAILED"]
LABELS = (("Lead Scoring", "Leads Scored"), ("Post Harvesting", "Posts Harvested"), ("Post Scoring", "Posts Scored"))


def origin_fields(*, status_as_text: bool = False) -> list[dict[str, Any]]:
    """The Clients table of the origin document, as an operator would type its fields."""
    fields: list[dict[str, Any]] = [
        {"name": "Client Name", "type": "singleLineText"},
        {"name": "Processing Stream", "type": "number", "options": {"precision": 0}},
    ]
    for label, counted in LABELS:
        status: dict[str, Any] = (
            {"name": f"{label} Job Status", "type": "singleLineText"}
            if status_as_text
            else {
                "name": f"{label} Job Status",
                "type": "singleSelect",
                "options": {"choices": [{"name": s} for s in STATUSES]},
            }
        )
        fields += [
            status,
            {"name": f"{label} Job ID", "type": "singleLineText"},
            {"name": f"{label} Last Run Date", "type": "date", "options": {"dateFormat": {"name": "iso"}}},
            {"name": f"{label} Last Run Time", "type": "singleLineText"},
            {"name": f"{counted} Last Run", "type": "singleLineText"},
        ]
    return fields


def origin_base(project: Project, rows: list[dict[str, Any]], **typing: bool) -> list[str]:
    """Create the table through the API, as the operator's base already has it; return record ids."""
    assert project.emulator is not None
    api = Api(TOKEN, endpoint_url=project.emulator.url)
    api.base(project.base_id).create_table("Clients", origin_fields(**typing))
    table = api.table(project.base_id, "Clients")
    created = [table.create(row)["id"] for row in rows]  # one by one: creation order is the sweep order
    return created


def test_a_base_as_the_origin_describes_processes_every_client(tmp_path: Path, emulator: Emulator) -> None:
    project = make_project(tmp_path, "airtable", emulator, schema=False)
    rows: list[dict[str, Any]] = [{"Client Name": f"Tenant {i}", "Processing Stream": 1 + i % 2} for i in range(6)]
    rows.append({"Client Name": "Forgotten Inc"})  # no stream: named, never silently dropped
    ids = origin_base(project, rows)

    check = project.fnf("schema", "check", "--json")
    problems = json.loads(check.stdout)["problems"]
    assert problems and all(p["fixable"] for p in problems), problems  # date and text fields are accepted
    applied = project.fnf("schema", "apply")
    assert applied.returncode == 0, applied.stderr

    run = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["outcome"] == "completed" and report["completed"] == 3, report
    assert project.ledger() == [ids[0], ids[2], ids[4]]  # the record ids, in creation order
    assert [u["record"] for u in report["unusable"]] == [ids[6]]
    assert "Forgotten Inc" in report["message"] and "Processing Stream is blank" in report["message"]

    today = datetime.now(UTC).date().isoformat()
    by_id = {r["id"]: r["fields"] for r in emulator.records(project.base_id, "Clients")}
    done = by_id[ids[0]]
    assert done["Lead Scoring Job Status"] == "COMPLETED"
    assert done["Lead Scoring Job ID"].startswith("job_lead_stream1_")
    assert done["Lead Scoring Last Run Date"] == today  # a date field gets a date
    assert done["Leads Scored Last Run"] == "3"  # a text field gets the count as text, as the origin writes it
    assert done["Lead Scoring Last Run Time"].endswith("seconds")
    assert "Client ID" not in done, "fnf leaves the operators' records as they are"
    assert "Lead Scoring Job Status" not in by_id[ids[1]]  # stream 2 untouched

    again = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert json.loads(again.stdout)["completed"] == 3 and len(project.ledger()) == 6  # the next sweep, in order

    status = project.status()
    assert [u["record"] for u in status["unusable"]] == [ids[6]]
    assert any(c["id"] == ids[0] and c["jobs"]["lead_scoring"]["status"] == "COMPLETED" for c in status["clients"])
    health = project.fnf("health")
    assert health.returncode == 1 and ids[6] in health.stdout and "Forgotten Inc" in health.stdout


def test_status_kept_as_text_and_a_duplicate_client_id_are_handled(tmp_path: Path, emulator: Emulator) -> None:
    project = make_project(tmp_path, "airtable", emulator, schema=False)
    ids = origin_base(
        project, [{"Client Name": f"T{i}", "Processing Stream": 1} for i in range(3)], status_as_text=True
    )
    assert project.fnf("schema", "apply").returncode == 0
    assert project.emulator is not None
    table = Api(TOKEN, endpoint_url=project.emulator.url).table(project.base_id, "Clients")
    table.update(ids[0], {"Client ID": "acme"})
    table.update(ids[2], {"Client ID": "acme"})

    run = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert project.ledger() == ["acme", ids[1]]
    assert [u["record"] for u in report["unusable"]] == [ids[2]]
    assert "also on record " + ids[0] in report["unusable"][0]["reason"]
    fields = {r["id"]: r["fields"] for r in emulator.records(project.base_id, "Clients")}
    assert fields[ids[0]]["Lead Scoring Job Status"] == "COMPLETED"
    assert "Lead Scoring Job Status" not in fields[ids[2]]
    named = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client", ids[1], "--json")
    assert named.returncode == 0 and project.ledger()[-1] == ids[1], named.stderr


def test_control_characters_in_records_are_shown_escaped(tmp_path: Path, emulator: Emulator) -> None:
    """A record typed or synced with a newline, an escape sequence or a right-to-left override
    cannot forge a log line or repaint the operator's terminal: it is processed, shown escaped."""
    project = make_project(tmp_path, "airtable", emulator, schema=False)
    forged = "acme\n2026-12-01T00:00:00.000Z INFO    run forged completed"
    ids = origin_base(
        project,
        [
            {"Client Name": "\x1b[2J\x1b[31mRED\x1b[0m", "Processing Stream": 1},
            {"Client Name": "Right\u202eto left", "Processing Stream": 1},
            {"Client Name": "fails", "Processing Stream": 1},
        ],
    )
    assert project.fnf("schema", "apply").returncode == 0
    assert project.emulator is not None
    table = Api(TOKEN, endpoint_url=project.emulator.url).table(project.base_id, "Clients")
    table.update(ids[2], {"Client ID": forged})
    run = project.fnf("-v", "run", "-t", "lead_scoring", "-s", "1")
    assert run.returncode == 0, run.stderr
    done = {c["id"] for c in project.status()["clients"] if c["jobs"]["lead_scoring"]["status"] == "COMPLETED"}
    assert done == {ids[0], ids[1], forged}
    for output in (run.stdout, run.stderr, project.fnf("status", "--all").stdout, project.fnf("history").stdout):
        assert "\x1b" not in output and "\u202e" not in output
        assert not any(line.startswith("2026-12-01T00:00:00.000Z") for line in output.splitlines())
    status = project.fnf("status", "--all", "--limit", "0").stdout
    assert "\\x1b[31mRED" in status and "\\u202eto" in status
