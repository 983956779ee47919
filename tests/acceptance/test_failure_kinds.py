"""Every failed attempt carries a kind an operator can act on: from a command's exit code, a
Python handler's exception, or a signal fnf did not send; shown in status, history and alerts."""

from __future__ import annotations

import json
from pathlib import Path

from acceptance.conftest import Project
from alert_servers import http_receiver

SCRIPT = """#!/bin/sh
case "$1" in
  auth) echo "401 from the CRM: token expired" >&2; exit 77 ;;
  data) exit 65 ;;
  down) exit 69 ;;
  conf) exit 78 ;;
  crash) exit 3 ;;
  sig) kill -9 $$ ;;
  *) echo '{"count": 1}' ;;
esac
"""
KINDS = {"auth": "auth", "data": "data", "down": "unavailable", "conf": "config", "crash": "crash", "sig": "signal"}


def _command_project(project: Project) -> dict[str, str]:
    (project.path / "kinds.sh").write_text(SCRIPT)
    project.clients([{"id": cid, "name": cid.upper(), "stream": 1} for cid in [*KINDS, "fine"]])
    return {
        "FNF_HANDLER_LEAD_SCORING": "",
        "FNF_COMMAND_LEAD_SCORING": "sh kinds.sh {client_id}",
        "FNF_CIRCUIT_BREAKER_FAILURES": "0",  # six failures in a row on purpose
    }


def test_a_commands_exit_code_names_the_kind_in_status_and_history(any_project: Project) -> None:
    project = any_project
    env = _command_project(project)
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json", env=env)
    assert result.returncode == 0, result.stderr
    jobs = project.jobs()
    for cid, kind in KINDS.items():
        job = jobs[cid]
        assert (job["status"], job["failure_kind"]) == ("FAILED", kind), cid
        assert job["message"].startswith(f"[{kind}] "), job["message"]
    assert jobs["fine"]["failure_kind"] is None
    assert "token expired" in jobs["auth"]["message"]
    history = json.loads(project.fnf("history", "--json").stdout)
    assert history[0]["failures"] == dict.fromkeys(KINDS.values(), 1)
    wide = project.fnf("history", env={"COLUMNS": "200"})
    assert "1 auth" in wide.stdout and "1 signal" in wide.stdout, wide.stdout


def test_a_python_handlers_exception_names_the_kind_and_alerts_count_by_kind(project: Project) -> None:
    rows = [{"id": f"a{i}", "name": f"A{i}", "stream": 1, "mode": "auth"} for i in range(3)]
    rows += [
        {"id": "d", "name": "D", "stream": 1, "mode": "bad_data"},
        {"id": "x", "name": "X", "stream": 1, "mode": "fail"},
    ]
    project.clients(rows)
    with http_receiver() as webhook:
        env = {"ALERT_WEBHOOK_URL": webhook.url, "FNF_CIRCUIT_BREAKER_FAILURES": "0"}
        result = project.fnf("run", "-t", "lead_scoring", "-s", "1", env=env)
        assert result.returncode == 0, result.stderr
        bodies = [json.loads(r.body) for r in webhook.requests]
    assert project.job("a0")["failure_kind"] == "auth"
    assert project.job("a0")["message"] == "[auth] the CRM refused the token"
    assert project.job("d")["failure_kind"] == "data"
    assert project.job("x")["failure_kind"] == "crash"
    summary = next(b for b in bodies if b.get("event") == "summary")
    assert "(5 client failed: 3 auth, 1 crash, 1 data)" in summary["subject"], summary["subject"]
    first = next(b for b in bodies if b.get("event") != "summary")
    assert first["failure_kind"] == "auth"


def test_the_exit_codes_are_documented_for_command_authors() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for code, kind in ((75, "transient"), (69, "unavailable"), (77, "auth"), (65, "data"), (78, "config")):
        assert f"| {code} " in readme and kind in readme, (code, kind)
    for name in ("RetryLater", "Unavailable", "AuthFailed", "BadData", "BadConfig"):
        assert name in readme, name
