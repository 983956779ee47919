"""What an operator reads when a setting is wrong or a run is stopped: the file, the line, the
name, and what to do; global options accepted where cron lines put them."""

from __future__ import annotations

import json

from acceptance.conftest import Project

from fnf.cli.main import hoist_global_options


def test_global_options_after_the_command_are_moved_before_it() -> None:
    assert hoist_global_options(["run", "-t", "x", "-s", "1", "-q"]) == ["-q", "run", "-t", "x", "-s", "1"]
    assert hoist_global_options(["--log-format", "json", "status", "-vv"]) == ["--log-format", "json", "-vv", "status"]
    assert hoist_global_options(["clients", "list", "--log-format=json"]) == ["--log-format=json", "clients", "list"]
    assert hoist_global_options(["run", "--", "-q"]) == ["run", "--", "-q"]
    assert hoist_global_options(["--help"]) == ["--help"]


def test_a_run_accepts_quiet_and_verbose_at_the_end_of_its_line(project: Project) -> None:
    project.clients([{"id": "c1", "name": "C1", "stream": 1}])
    quiet = project.fnf("run", "-t", "lead_scoring", "-s", "1", "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert "started" not in quiet.stderr, "-q keeps only warnings and errors"
    verbose = project.fnf("status", "--json", "-v")
    assert verbose.returncode == 0 and json.loads(verbose.stdout)["clients"][0]["id"] == "c1"


def test_a_broken_env_file_names_its_line_and_doctor_fails(project: Project) -> None:
    (project.path / ".env").write_text('FNF_STORE=sqlite\nALERT_FROM="fnf@example.com\nFNF_CONCURRENCY=2\n')
    env = {"FNF_ENV_FILE": ".env"}
    result = project.fnf("status", env=env)
    assert result.returncode == 2
    assert ".env line 2: cannot read 'ALERT_FROM=...'" in result.stderr and "matching quotes" in result.stderr
    assert "could not parse" not in result.stderr
    doctor = project.fnf("doctor", env=env)
    assert doctor.returncode == 1 and ".env line 2" in doctor.stdout


def test_a_setting_with_a_typo_is_named_with_the_real_one(project: Project) -> None:
    project.clients([{"id": "c1", "name": "C1", "stream": 1}])
    (project.path / ".env").write_text("MAX_CLIENT_PROCESSING_MINUTE=5\n")
    env = {"FNF_ENV_FILE": ".env"}
    doctor = project.fnf("doctor", env=env)
    assert "MAX_CLIENT_PROCESSING_MINUTE in .env is not a setting fnf reads" in doctor.stdout
    assert "did you mean MAX_CLIENT_PROCESSING_MINUTES?" in doctor.stdout
    run = project.fnf("run", "-t", "lead_scoring", "-s", "1", env=env)
    assert "did you mean MAX_CLIENT_PROCESSING_MINUTES?" in run.stderr


def test_the_log_format_in_env_counts(project: Project) -> None:
    project.clients([{"id": "c1", "name": "C1", "stream": 1}])
    (project.path / ".env").write_text("FNF_LOG_FORMAT=json\n")
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", env={"FNF_ENV_FILE": ".env"})
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["message"] for line in lines), lines[:3]


def test_no_handler_says_where_it_looked(project: Project) -> None:
    project.clients([{"id": "c1", "name": "C1", "stream": 1}])
    env = {"FNF_HANDLER_LEAD_SCORING": "", "FNF_ENV_FILE": ".env"}
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", env=env)
    assert result.returncode == 2
    assert f"looked in the environment and {project.path / '.env'} (no such file)" in result.stderr, result.stderr
