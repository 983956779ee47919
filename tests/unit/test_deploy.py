"""The shipped scheduler files are `fnf deploy` output, parse, and run valid `fnf run` commands."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from fnf import deploy
from fnf.app import check_run_type, check_stream
from fnf.cli.main import app
from fnf.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {
    "render": ROOT / "render.yaml",
    "crontab": ROOT / "crontab.example",
    "kubernetes": ROOT / "deploy" / "kubernetes" / "cronjob.yaml",
}
DEFAULTS = load_settings(environ={})


@pytest.mark.parametrize("target", deploy.TARGETS)
def test_the_shipped_files_are_the_output_for_three_streams(target: str) -> None:
    expected = deploy.generate(target, DEFAULTS, 3)
    assert SHIPPED[target].read_text() == expected, f"regenerate with: fnf deploy {target} --streams 3"


def assert_valid_run(command: str) -> tuple[str, int]:
    """Parse ``fnf run ...`` with the real CLI's parser (nothing runs) and check its values."""
    words = shlex.split(command)
    assert words[0].endswith("fnf") and words[1] == "run", command
    run = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    parsed = run.make_context("run", list(words[2:])).params
    return check_run_type(parsed["type_"]), check_stream(parsed["stream"])


@pytest.mark.parametrize("streams", [3, 5])
def test_render_blueprint(streams: int) -> None:
    blueprint: dict[str, Any] = yaml.safe_load(deploy.render(DEFAULTS, streams))
    services = blueprint["services"]
    assert len(services) == 3 * streams
    seen = set()
    for service in services:
        assert service["type"] == "cron" and service["runtime"] == "python"
        assert deploy.cron_ok(service["schedule"]), service["schedule"]
        assert "pip install" in service["buildCommand"]
        seen.add(assert_valid_run(service["startCommand"]))
        assert service["envVars"] == [{"fromGroup": "fnf-shared"}]
    assert seen == {(t, s) for t in ("lead_scoring", "post_harvesting", "post_scoring") for s in range(1, streams + 1)}
    (group,) = blueprint["envVarGroups"]
    variables = {v["key"]: v for v in group["envVars"]}
    assert variables["FNF_STORE"]["value"] == "airtable"
    for key in (
        "AIRTABLE_API_KEY",
        "AIRTABLE_BASE_ID",
        "SENDGRID_API_KEY",
        *(f"FNF_HANDLER_{t.upper()}" for t in ("lead_scoring", "post_harvesting", "post_scoring")),
    ):
        assert variables[key].get("sync") is False or "value" in variables[key], key
    assert variables["AIRTABLE_API_KEY"] == {"key": "AIRTABLE_API_KEY", "sync": False}
    assert float(variables["MAX_JOB_PROCESSING_HOURS"]["value"]) < deploy.RENDER_CRON_CAP_HOURS
    lead = [s["schedule"] for s in services if "lead-scoring" in s["name"]]
    assert all(schedule.split()[1] == "*" for schedule in lead), "lead scoring runs hourly"


@pytest.mark.parametrize("streams", [3, 5])
def test_crontab_lines_are_entries_running_valid_commands(streams: int) -> None:
    entries = [
        line
        for line in deploy.crontab(DEFAULTS, streams).splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(entries) == 3 * streams
    for line in entries:
        fields = line.split(None, 5)
        assert deploy.cron_ok(" ".join(fields[:5])), line
        command = fields[5]
        assert command.startswith("cd /srv/fnf && ") and ">> /srv/fnf/log/" in command and command.endswith("2>&1")
        invocation = command.split("&&", 1)[1].split(">>", 1)[0]
        assert_valid_run(invocation)
    assert "CRON_TZ=UTC" in deploy.crontab(DEFAULTS, streams)


@pytest.mark.parametrize("streams", [3, 5])
def test_kubernetes_cronjobs(streams: int) -> None:
    documents = list(yaml.safe_load_all(deploy.kubernetes(DEFAULTS, streams)))
    config, jobs = documents[0], documents[1:]
    assert config["kind"] == "ConfigMap" and config["data"]["FNF_STORE"] == "airtable"
    assert len(jobs) == 3 * streams
    for job in jobs:
        spec = job["spec"]
        assert job["kind"] == "CronJob" and spec["concurrencyPolicy"] == "Forbid"
        assert deploy.cron_ok(spec["schedule"])
        template = spec["jobTemplate"]["spec"]
        assert template["activeDeadlineSeconds"] > DEFAULTS.job_timeout
        pod = template["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > DEFAULTS.signal_grace
        (container,) = pod["containers"]
        assert_valid_run(" ".join(container["command"]))
        assert {"secretRef": {"name": "fnf-secrets"}} in container["envFrom"]


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("0 * * * *", True),
        ("*/15 2-4 1,15 * 1-5", True),
        ("60 * * * *", False),
        ("* * *", False),
        ("0 24 * * *", False),
    ],
)
def test_cron_expressions(expression: str, ok: bool) -> None:
    assert deploy.cron_ok(expression) is ok


def test_a_configured_concurrency_is_carried_into_render_and_kubernetes() -> None:
    four = load_settings(environ={"FNF_CONCURRENCY": "4"})
    (group,) = yaml.safe_load(deploy.render(four, 3))["envVarGroups"]
    assert {"key": "FNF_CONCURRENCY", "value": "4"} in group["envVars"]
    config_map = next(d for d in yaml.safe_load_all(deploy.generate("kubernetes", four, 3)) if d["kind"] == "ConfigMap")
    assert config_map["data"]["FNF_CONCURRENCY"] == "4"
    assert "FNF_CONCURRENCY" not in deploy.render(DEFAULTS, 3), "the default is not written out"
