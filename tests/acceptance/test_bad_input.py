"""Every bad input gets a message naming what was wrong, exit code 2, and an unchanged store."""

from __future__ import annotations

import pytest
from acceptance.conftest import Project

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
    ("flag without unit", (*RUN, "--client-timeout", "10"), {}, ["--client-timeout '10'", "add a unit", "90s"]),
    ("flag words", (*RUN, "--job-timeout", "ten"), {}, ["--job-timeout 'ten'", "2h"]),
    ("flag zero", (*RUN, "--job-timeout", "0m"), {}, ["--job-timeout '0m'", "longer than zero"]),
    ("unknown type", ("run", "-t", "lead", "-s", "1"), {}, ["--type 'lead' is not a job type", "lead_scoring"]),
    ("stream zero", ("run", "-t", "lead_scoring", "-s", "0"), {}, ["--stream '0' is not a stream"]),
    ("stream text", ("run", "-t", "lead_scoring", "-s", "two"), {}, ["--stream 'two' is not a stream"]),
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
