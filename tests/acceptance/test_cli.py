"""The CLI's documents and help, the demo, and a full `all` run."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from acceptance.conftest import ROOT, Project


def test_status_json_is_the_documented_document(project: Project) -> None:
    project.clients(
        [
            {"id": "a", "name": "A", "stream": 1, "mode": "ok", "count": 7},
            {"id": "b", "name": "B", "stream": 1, "mode": "fail"},
            {"id": "u", "name": "U", "stream": ""},
        ]
    )
    assert project.fnf("run", "-t", "lead_scoring", "-s", "1").returncode == 0
    result = project.fnf("status", "--json")
    assert result.returncode == 0
    doc = json.loads(result.stdout)  # stdout holds only the document; logs go to stderr
    assert set(doc) >= {"version", "generated_at", "clients", "runs", "streams"}
    a = next(c for c in doc["clients"] if c["id"] == "a")
    assert set(a) >= {"id", "name", "stream", "jobs"}
    assert set(a["jobs"]) == {"lead_scoring", "post_harvesting", "post_scoring"}
    job = a["jobs"]["lead_scoring"]
    assert set(job) >= {"status", "job_id", "last_run_date", "last_run_seconds", "count"}
    assert job["status"] == "COMPLETED" and job["count"] == 7
    assert re.fullmatch(r"job_lead_stream1_\d{8}_\d{6}", job["job_id"])
    assert job["last_run_date"].endswith("Z")
    assert a["jobs"]["post_scoring"]["status"] is None
    b = next(c for c in doc["clients"] if c["id"] == "b")
    assert b["jobs"]["lead_scoring"]["status"] == "FAILED"
    assert "RuntimeError: upstream rejected B" in b["jobs"]["lead_scoring"]["message"]
    run = doc["runs"][0]
    assert set(run) >= {
        "run_id",
        "type",
        "stream",
        "host",
        "pid",
        "started_at",
        "heartbeat_at",
        "ended_at",
        "outcome",
        "completed",
        "failed",
        "timed_out",
        "remaining",
        "stopped_at",
    }
    assert (run["outcome"], run["completed"], run["failed"]) == ("completed", 1, 1)
    assert next(c for c in doc["clients"] if c["id"] == "u")["stream"] is None


def test_status_table_names_clients_and_survives_markup_in_names(project: Project) -> None:
    project.clients([{"id": "a", "name": "[bold]Acme[/] $(reboot)", "stream": 1, "mode": "hang"}])
    project.fnf("run", "-t", "lead_scoring", "-s", "1", "--client-timeout", "0.5s")
    result = project.fnf("status", "--type", "lead_scoring")
    assert result.returncode == 0, result.stderr
    assert "[bold]Acme[/] $(reboot)" in result.stdout
    assert "CLIENT_TIMEOUT_KILLED" in result.stdout


def test_dry_run_lists_the_order_and_changes_nothing(project: Project) -> None:
    project.clients([{"id": f"c{i}", "name": f"C{i}", "stream": 1, "mode": "ok"} for i in range(3)])
    before = project.dump()
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--dry-run", "--json")
    assert result.returncode == 0
    assert [c["id"] for c in json.loads(result.stdout)["clients"]] == ["c0", "c1", "c2"]
    assert project.dump() == before


def test_all_does_every_type_for_a_client_before_the_next(project: Project) -> None:
    project.clients([{"id": f"c{i}", "name": f"C{i}", "stream": 2, "mode": "ok"} for i in range(2)])
    result = project.fnf("run", "--type", "all", "--stream", "2", "--json")
    assert result.returncode == 0, result.stderr
    done = [(c["id"], c["type"]) for c in json.loads(result.stdout)["clients"]]
    assert done == [(c, t) for c in ("c0", "c1") for t in ("lead_scoring", "post_harvesting", "post_scoring")]
    job_ids = {t: project.job("c1", t)["job_id"] for t in ("lead_scoring", "post_harvesting", "post_scoring")}
    assert job_ids["post_harvesting"].startswith("job_harvest_stream2_")
    assert job_ids["post_scoring"].startswith("job_postscore_stream2_")


def test_command_handler_end_to_end(project: Project) -> None:
    project.clients([{"id": "c1", "name": "x; rm -rf ~", "stream": 1}])
    env = {
        "FNF_HANDLER_LEAD_SCORING": "",
        "FNF_COMMAND_LEAD_SCORING": f"{sys.executable} -m fnf.examples lead_scoring {{client_id}} {{client_name}}",
    }
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", env=env)
    assert result.returncode == 0, result.stderr
    job = project.job("c1")
    assert job["status"] == "COMPLETED" and isinstance(job["count"], int)
    assert "[c1 out] x; rm -rf ~:" in result.stderr


def test_clients_list_and_remove(project: Project) -> None:
    project.clients([{"id": "a", "name": "A", "stream": 1}, {"id": "b", "name": "B", "stream": 2, "plan": "pro"}])
    listed = json.loads(project.fnf("clients", "list", "--json").stdout)
    assert [(c["id"], c["stream"], c["fields"]) for c in listed] == [("a", 1, {"plan": ""}), ("b", 2, {"plan": "pro"})]
    assert project.fnf("clients", "remove", "a").returncode == 0
    assert [c["id"] for c in json.loads(project.fnf("clients", "list", "--json").stdout)] == ["b"]


def _commands() -> list[tuple[str, ...]]:
    """Every command and group of the real app, so a new command cannot go without help."""
    import typer

    from fnf.cli.main import app

    found: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        if path:
            found.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def test_the_command_list_is_complete() -> None:
    assert {("run",), ("status",), ("schema", "check"), ("schema", "apply"), ("clients", "import")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(project: Project, command: tuple[str, ...]) -> None:
    result = project.fnf(*command, "--help")
    assert result.returncode == 0
    assert "Example: fnf" in result.stdout


def test_top_level_help_lists_exit_codes_and_version(project: Project) -> None:
    result = project.fnf("--help")
    assert result.returncode == 0
    assert "Exit codes: 0" in " ".join(result.stdout.split())
    version = project.fnf("--version")
    assert version.returncode == 0 and version.stdout.startswith("fnf ")


def test_readme_exit_codes_match_the_code() -> None:
    from fnf import errors

    readme = (ROOT / "README.md").read_text()
    for name in ("EXIT_OK", "EXIT_RUN_FAILED", "EXIT_USAGE", "EXIT_SIGHUP", "EXIT_SIGINT", "EXIT_SIGTERM"):
        assert f"| {getattr(errors, name)} |" in readme, name


def test_demo_runs_stops_resumes_and_explains_what_happened(project: Project, tmp_path: Path) -> None:
    result = project.fnf("demo", "--dir", str(tmp_path / "demo"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "stopped_at_deadline" in result.stdout
    assert "completed" in result.stdout
    assert "CLIENT_TIMEOUT_KILLED" in result.stdout and "FAILED" in result.stdout
    assert "JOB_TIMEOUT_KILLED" in result.stderr
    assert "Traceback" not in result.stderr, "the expected failure is one line, not fnf's internals"
    assert "[auth]" in result.stdout or "[auth]" in result.stderr
    for stream in ("1", "2", "3"):
        assert any(
            line.split("│")[2].strip() == stream
            for line in result.stdout.splitlines()
            if line.count("│") > 3 and "lead_scoring" in line
        ), stream
    assert "What happened:" in result.stdout and "Try next:" in result.stdout
    lines = result.stdout.splitlines()
    for attempt in (1, 2):  # each run announced on a line of its own, after a blank one
        index = lines.index(f"== Run {attempt}: fnf run --type lead_scoring --stream 1")
        assert lines[index - 1] == ""
    assert "\\n" not in result.stdout, "no escaped newline in fnf's own words"
    assert f"fnf status --db {tmp_path / 'demo' / 'demo.db'}" in result.stdout
