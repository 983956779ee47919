"""What an operator reads when a setting is wrong or a run is stopped: the file, the line, the
name, and what to do; global options accepted where cron lines put them."""

from __future__ import annotations

import json

from acceptance.conftest import Project
from processes import on_a_terminal

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


def test_clients_list_masks_fields_that_look_secret_unless_asked(project: Project) -> None:
    project.clients([{"id": "c1", "name": "C1", "stream": 1, "api_key": "key-1", "crm_token": "tok-2", "plan": "pro"}])
    table = project.fnf("clients", "list", env={"COLUMNS": "200"})
    assert "key-1" not in table.stdout and "tok-2" not in table.stdout
    assert "api_key=***" in table.stdout and "plan=pro" in table.stdout
    listed = json.loads(project.fnf("clients", "list", "--json").stdout)
    assert listed[0]["fields"] == {"api_key": "***", "crm_token": "***", "plan": "pro"}
    shown = json.loads(project.fnf("clients", "list", "--json", "--show-secrets").stdout)
    assert shown[0]["fields"]["api_key"] == "key-1"


def _on_a_terminal(project: Project, answer: bytes, *args: str) -> tuple[int, str]:
    return on_a_terminal(project.command(*args), project.path, {**project.env, "TERM": "xterm"}, answer)


def test_clients_remove_asks_at_a_terminal(project: Project) -> None:
    project.clients([{"id": "c1", "name": "Acme", "stream": 1}, {"id": "c2", "name": "Beta", "stream": 1}])
    code, screen = _on_a_terminal(project, b"n\n", "clients", "remove", "c1")
    assert code == 0 and "c1 (Acme, stream 1)" in screen and "nothing removed" in screen, screen
    assert [c["id"] for c in json.loads(project.fnf("clients", "list", "--json").stdout)] == ["c1", "c2"]
    code, screen = _on_a_terminal(project, b"y\n", "clients", "remove", "c1")
    assert code == 0 and "removed 1 client(s)" in screen, screen
    assert [c["id"] for c in json.loads(project.fnf("clients", "list", "--json").stdout)] == ["c2"]


def test_a_command_reports_progress_through_its_progress_file(project: Project) -> None:
    from processes import wait_until

    release = project.path / "release"  # the work ends only once the test has seen it running
    script = (
        'printf \'{"done": 40, "total": 120, "message": "scoring"}\' > "$FNF_PROGRESS_FILE.tmp"\n'
        'mv "$FNF_PROGRESS_FILE.tmp" "$FNF_PROGRESS_FILE"\n'
        f"while [ ! -e {release} ]; do sleep 0.05; done\n"
        "echo '{\"count\": 1}'\n"
    )
    (project.path / "work.sh").write_text(script)
    project.clients([{"id": "c1", "name": "C1", "stream": 1}])
    env = {
        "FNF_HANDLER_LEAD_SCORING": "",
        "FNF_COMMAND_LEAD_SCORING": "sh work.sh",
        "HEARTBEAT_INTERVAL_MINUTES": "1s",
    }
    proc = project.popen("run", "-t", "lead_scoring", "-s", "1", env=env)
    wait_until(lambda: project.job("c1")["message"] == "progress 40/120: scoring", 30)
    assert project.job("c1")["status"] == "RUNNING"
    release.touch()
    proc.communicate(timeout=60)
    assert proc.returncode == 0 and project.job("c1")["status"] == "COMPLETED"
