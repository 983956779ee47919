"""Every bad input gets a message naming what was wrong, exit code 2, and an unchanged store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from acceptance.conftest import Project, make_project

from fnf.testing.airtable_emulator import Emulator

RUN = ("run", "-t", "lead_scoring", "-s", "1")

CASES = [
    # (id, args, extra env, fragments expected on stderr)
    (
        "client minutes ten",
        RUN,
        {"MAX_CLIENT_PROCESSING_MINUTES": "ten"},
        ["MAX_CLIENT_PROCESSING_MINUTES='ten'", "a number of minutes greater than zero"],
    ),
    ("client minutes negative", RUN, {"MAX_CLIENT_PROCESSING_MINUTES": "-5"}, ["MAX_CLIENT_PROCESSING_MINUTES='-5'"]),
    ("client minutes zero", RUN, {"MAX_CLIENT_PROCESSING_MINUTES": "0"}, ["MAX_CLIENT_PROCESSING_MINUTES='0'"]),
    ("job hours text", RUN, {"MAX_JOB_PROCESSING_HOURS": "two"}, ["MAX_JOB_PROCESSING_HOURS='two'", "hours"]),
    ("heartbeat zero", RUN, {"HEARTBEAT_INTERVAL_MINUTES": "0"}, ["HEARTBEAT_INTERVAL_MINUTES='0'"]),
    ("grace negative", RUN, {"FNF_KILL_GRACE_SECONDS": "-1"}, ["FNF_KILL_GRACE_SECONDS='-1'"]),
    ("log cap fraction", RUN, {"FNF_CHILD_LOG_MAX_BYTES": "1.5"}, ["FNF_CHILD_LOG_MAX_BYTES='1.5'", "whole number"]),
    (
        "flag bad unit",
        (*RUN, "--client-timeout", "10x"),
        {},
        ["--client-timeout '10x'", "90s", "a plain number of minutes"],
    ),
    ("flag negative", (*RUN, "--grace", "-1"), {}, ["--grace '-1'", "zero or more"]),
    ("setting bad unit", RUN, {"MAX_JOB_PROCESSING_HOURS": "2x"}, ["MAX_JOB_PROCESSING_HOURS='2x'", "hours", "2h"]),
    ("flag words", (*RUN, "--job-timeout", "ten"), {}, ["--job-timeout 'ten'", "2h"]),
    ("flag zero", (*RUN, "--job-timeout", "0m"), {}, ["--job-timeout '0m'", "longer than zero"]),
    ("unknown type", ("run", "-t", "lead", "-s", "1"), {}, ["--type 'lead' is not a job type", "lead_scoring"]),
    ("stream zero", ("run", "-t", "lead_scoring", "-s", "0"), {}, ["--stream '0' is not a stream"]),
    ("stream text", ("run", "-t", "lead_scoring", "-s", "two"), {}, ["--stream 'two' is not a stream"]),
    ("stream superscript", ("run", "-t", "lead_scoring", "-s", "²"), {}, ["--stream '²' is not a stream"]),
    ("stream huge", ("run", "-t", "lead_scoring", "-s", "99999999999999999999"), {}, ["up to 100000"]),
    ("status stream huge", ("status", "-s", "99999999999999999999"), {}, ["--stream '99999999999999999999'"]),
    ("plan stream arabic", ("plan", "-t", "lead_scoring", "-s", "\u0663"), {}, ["is not a stream"]),
    ("reset stream huge", ("reset", "-t", "lead_scoring", "-s", "1" * 25), {}, ["is not a stream"]),
    ("missing type", ("run", "-s", "1"), {}, ["Missing option '--type'"]),
    ("unknown store", RUN, {"FNF_STORE": "postgres"}, ["FNF_STORE='postgres'", "sqlite"]),
    (
        "handler module",
        RUN,
        {"FNF_HANDLER_LEAD_SCORING": "no_such_mod:run"},
        ["FNF_HANDLER_LEAD_SCORING='no_such_mod:run'", "cannot import module 'no_such_mod'"],
    ),
    ("handler form", RUN, {"FNF_HANDLER_LEAD_SCORING": "just_a_module"}, ["package.module:function"]),
    ("handler attr", RUN, {"FNF_HANDLER_LEAD_SCORING": "fnf_test_handlers:nope"}, ["has no attribute 'nope'"]),
    (
        "missing command",
        RUN,
        {"FNF_HANDLER_LEAD_SCORING": "", "FNF_COMMAND_LEAD_SCORING": "no-such-tool --x"},
        ["command 'no-such-tool' was not found"],
    ),
    (
        "bad placeholder",
        RUN,
        {"FNF_HANDLER_LEAD_SCORING": "", "FNF_COMMAND_LEAD_SCORING": "echo {clientid}"},
        ["unknown placeholder {clientid}"],
    ),
    ("both handler kinds", RUN, {"FNF_COMMAND_LEAD_SCORING": "echo"}, ["both FNF_HANDLER_LEAD_SCORING"]),
    ("no handler", RUN, {"FNF_HANDLER_LEAD_SCORING": ""}, ["no handler is configured for lead_scoring"]),
    (
        "all needs every handler",
        ("run", "-t", "all", "-s", "1"),
        {"FNF_HANDLER_POST_SCORING": ""},
        ["no handler is configured for post_scoring"],
    ),
    ("unknown client", (*RUN, "--client", "nobody"), {}, ["no client has id 'nobody'"]),
    ("client in other stream", (*RUN, "--client", "b1"), {}, ["client 'b1' is in stream 2, not 1"]),
    ("status bad type", ("status", "--type", "leads"), {}, ["--type 'leads' is not a job type"]),
    ("remove unknown", ("clients", "remove", "ghost"), {}, ["no client has id 'ghost'; nothing removed"]),
    ("dry run bad handler", (*RUN, "--dry-run"), {"FNF_HANDLER_LEAD_SCORING": "x:y"}, ["cannot import module 'x'"]),
    ("concurrency zero", (*RUN, "--concurrency", "0"), {}, ["--concurrency '0'", "from 1 to 64"]),
    ("concurrency env words", RUN, {"FNF_CONCURRENCY": "many"}, ["FNF_CONCURRENCY='many'", "from 1 to 64"]),
    ("concurrency too many", (*RUN, "-k", "500"), {}, ["--concurrency '500'", "more streams"]),
    ("status limit negative", ("status", "--limit", "-1"), {}, ["--limit -1", "0 (all)"]),
    ("quarantine fraction", RUN, {"FNF_QUARANTINE_AFTER": "1.5"}, ["FNF_QUARANTINE_AFTER='1.5'", "whole number"]),
    ("alert quiet words", RUN, {"FNF_ALERT_QUIET_MINUTES": "soon"}, ["FNF_ALERT_QUIET_MINUTES='soon'"]),
    ("alert timeout zero", RUN, {"FNF_ALERT_TIMEOUT_SECONDS": "0"}, ["FNF_ALERT_TIMEOUT_SECONDS='0'"]),
    ("email without sender", RUN, {"ALERT_EMAIL": "ops@example.com"}, ["ALERT_EMAIL", "SENDGRID_API_KEY"]),
    ("slack not a url", RUN, {"SLACK_WEBHOOK_URL": "hooks.slack.com/x"}, ["SLACK_WEBHOOK_URL", "https://"]),
    ("secret without url", RUN, {"ALERT_WEBHOOK_SECRET": "s3"}, ["ALERT_WEBHOOK_URL is not"]),
    ("airtable without key", RUN, {"FNF_STORE": "airtable"}, ["needs AIRTABLE_API_KEY"]),
    ("log format env", ("status",), {"FNF_LOG_FORMAT": "xml"}, ["FNF_LOG_FORMAT='xml'", "text, json"]),
    ("prune age words", ("history", "prune", "--older-than", "soon"), {}, ["--older-than 'soon'", "30d"]),
    ("stop unknown run", ("stop", "nonexistent"), {}, ["no live run has id 'nonexistent'"]),
    ("deploy zero streams", ("deploy", "render", "--streams", "0"), {}, ["--streams 0", "1 to 60"]),
]


@pytest.fixture
def seeded(project: Project) -> Project:
    project.clients(
        [{"id": "a1", "name": "A", "stream": 1, "mode": "ok"}, {"id": "b1", "name": "B", "stream": 2, "mode": "ok"}]
    )
    return project


@pytest.mark.parametrize(("args", "env", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_its_reason(
    seeded: Project, args: tuple[str, ...], env: dict[str, str], fragments: list[str]
) -> None:
    before = seeded.dump()
    result = seeded.fnf(*args, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert seeded.dump() == before
    assert seeded.ledger() == []


CSV_CASES = [
    ("id,name\nx,X\n", "missing column(s) stream"),
    ("id,name,stream\nx,X,two\n", "line 2: stream 'two' is not a number"),
    ("id,name,stream\nx,X,1\nx,Y,1\n", "line 3: id 'x' already used on line 2"),
    ("id,name,stream\n,X,1\n", "line 2: id is blank"),
    ("id,name,stream\nx,X,9223372036854775807\n", "is larger than 100000"),
    ("id,name,stream\nx,X,1e19\n", "stream '1e19' is not a positive whole number"),
    ('id,name,stream\n"a\nforged line",X,1\n', "contains the control character '\\n'"),
    ("id,name,stream\nn\x00ul,X,1\n", "contains the control character '\\x00'"),
]


@pytest.mark.parametrize(("text", "fragment"), CSV_CASES)
def test_bad_csv_imports_nothing(seeded: Project, text: str, fragment: str) -> None:
    (seeded.path / "bad.csv").write_text(text)
    before = seeded.dump()
    result = seeded.fnf("clients", "import", "bad.csv")
    assert result.returncode == 2
    assert fragment in result.stderr and "nothing imported" in result.stderr
    assert seeded.dump() == before


def test_missing_csv_file(seeded: Project) -> None:
    result = seeded.fnf("clients", "import", "nope.csv")
    assert result.returncode == 2
    assert "nope.csv: no such file" in result.stderr


def test_importing_into_a_missing_directory_is_a_run_failure(project: Project) -> None:
    (project.path / "c.csv").write_text("id,name,stream\na,A,1\n")
    result = project.fnf("clients", "import", "c.csv", env={"FNF_DB": str(project.path / "no" / "dir" / "fnf.db")})
    assert result.returncode == 1
    assert "directory" in result.stderr and "does not exist" in result.stderr


@pytest.mark.parametrize("args", [RUN, ("status",), ("clients", "list"), (*RUN, "--dry-run")], ids=" ".join)
def test_a_missing_store_is_an_error_not_an_empty_success(project: Project, args: tuple[str, ...]) -> None:
    result = project.fnf(*args, env={"FNF_DB": "elsewhere.db"})
    assert result.returncode == 2
    assert "no fnf store at 'elsewhere.db'" in result.stderr
    assert "fnf clients import" in result.stderr
    assert not (project.path / "elsewhere.db").exists()


def test_a_file_that_is_not_a_database(project: Project) -> None:
    (project.path / "junk.db").write_text("this is not sqlite" * 100)
    result = project.fnf("status", env={"FNF_DB": str(project.path / "junk.db")})
    assert result.returncode == 1
    assert "cannot open the SQLite store" in result.stderr
    assert "Traceback" not in result.stderr


PAUSED = {"Client ID": "paused", "Client Name": "P", "Processing Stream": 1, "Lead Scoring Job Status": "Paused"}
AIRTABLE_RECORDS = [
    # (fields typed by hand into the Clients table, fragment of the warning that names the problem)
    ({"Client ID": "nostream", "Client Name": "No stream"}, "(No stream): Processing Stream is blank"),
    ({"Client ID": "dup", "Client Name": "Second dup", "Processing Stream": 1, "Sweep Order": 99}, "is also on record"),
    (PAUSED, "not a status fnf writes"),
    ({"Client ID": "badjson", "Client Name": "J", "Processing Stream": 1, "Client Fields": "{x"}, "is not JSON"),
    (
        {"Client ID": "listjson", "Client Name": "L", "Processing Stream": 1, "Client Fields": "[1, 2]"},
        "(client 'listjson'): Client Fields is not JSON of an object",
    ),
]


def test_bad_airtable_records_are_named_and_the_run_goes_on_with_the_others(tmp_path: Path, emulator: Emulator) -> None:
    from fnf.testing.airtable_emulator import Record

    project = make_project(tmp_path, "airtable", emulator)
    project.clients([{"id": f"ok{i}", "name": f"OK {i}", "stream": 1, "mode": "ok"} for i in range(3)])
    project.clients([{"id": "dup", "name": "First dup", "stream": 1, "mode": "ok"}, *[
        {"id": f"ok{i}", "name": f"OK {i}", "stream": 1, "mode": "ok"} for i in range(3)]])  # fmt: skip
    table = emulator.base(project.base_id).table("Clients")
    with emulator.lock:
        for index, (fields, _) in enumerate(AIRTABLE_RECORDS):
            record_id = f"recBAD{index:011d}"
            table.records[record_id] = Record(record_id, "2025-09-20T14:30:22.000Z", dict(fields))
    result = project.fnf("-v", "run", "-t", "lead_scoring", "-s", "1", "--json")
    assert result.returncode == 0, result.stderr
    for _, fragment in AIRTABLE_RECORDS:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.stderr
    done = sorted(project.ledger())
    assert {"ok0", "ok1", "ok2", "dup"} <= set(done), "every good client is processed"
    assert done.count("dup") == 1, "a duplicated id is processed once"
    assert "paused" in done, "an unknown status counts as not yet processed"
    report = json.loads(result.stdout)
    assert sorted(u["name"] for u in report["unusable"]) == ["No stream", "Second dup"]
