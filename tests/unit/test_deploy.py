"""The scheduler files fnf generates: valid for their scheduler, runnable, and robust to any value."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from kubernetes_validate import validate as kubernetes_validate
from render_rules import problems as render_problems

from fnf import deploy
from fnf.cli.main import app
from fnf.commands import check_run_type, check_stream
from fnf.config import load_settings
from fnf.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {
    "render": ROOT / "render.yaml",
    "crontab": ROOT / "crontab.example",
    "kubernetes": ROOT / "deploy" / "kubernetes" / "cronjob.yaml",
}
EXAMPLE_ENV = {
    "FNF_COMMAND_LEAD_SCORING": "node example.js lead_scoring {client_id}",
    "FNF_COMMAND_POST_HARVESTING": "node example.js post_harvesting {client_id}",
    "FNF_COMMAND_POST_SCORING": "node example.js post_scoring {client_id}",
}
EXAMPLE = load_settings(environ=EXAMPLE_ENV)
SHIPPED_PLANS = {
    "render": deploy.Plan(3, docker=True),
    "crontab": deploy.Plan(3),
    "kubernetes": deploy.Plan(3),
}
SHIPPED_PATH = "/usr/local/bin:/usr/bin:/bin"
HOSTILE = "node \"quoted\" \\back\\slash: {client_id} # not a comment 'single' %percent - [x] {a: b}"


def generated(target: str, settings: Any = EXAMPLE, plan: deploy.Plan | None = None) -> str:
    plan = plan or SHIPPED_PLANS[target]
    if target == "crontab":
        return deploy.crontab(settings, plan, path=SHIPPED_PATH)
    return deploy.generate(target, settings, plan)


@pytest.mark.parametrize("target", deploy.TARGETS)
def test_the_shipped_files_are_the_output_for_three_streams(target: str) -> None:
    assert SHIPPED[target].read_text() == generated(target), "regenerate with the plan in SHIPPED_PLANS"


def assert_valid_run(command: str) -> tuple[str, int]:
    """Parse ``fnf run ...`` with the real CLI's parser (nothing runs) and check its values."""
    words = shlex.split(command)
    assert words[0].endswith("fnf") and words[1] == "run", command
    run = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    parsed = run.make_context("run", list(words[2:])).params
    return check_run_type(parsed["type_"]), check_stream(parsed["stream"])


def test_render_rules_catch_a_secret_in_an_environment_group() -> None:
    """The rule the earlier Blueprint broke: Render never asks for a sync: false inside a group."""
    old = {
        "envVarGroups": [{"name": "g", "envVars": [{"key": "AIRTABLE_API_KEY", "sync": False}]}],
        "services": [{"type": "cron", "name": "c", "runtime": "python", "schedule": "0 * * * *",
                      "buildCommand": "pip install .", "startCommand": "fnf", "envVars": [{"fromGroup": "g"}]}],
    }  # fmt: skip
    assert render_problems(old) == ["group g: AIRTABLE_API_KEY: an environment group cannot hold sync"]


@pytest.mark.parametrize(
    "plan",
    [
        deploy.Plan(3, docker=True),
        deploy.Plan(5, docker=True),
        deploy.Plan(5, image="ghcr.io/acme/fnf:1"),
        deploy.Plan(2, secrets="prompt", docker=True),
    ],
    ids=["shipped", "5-streams", "image", "prompt"],
)
def test_render_blueprints_follow_renders_rules_and_ask_for_every_secret(plan: deploy.Plan) -> None:
    text = generated("render", plan=plan)
    blueprint: dict[str, Any] = yaml.safe_load(text)
    assert render_problems(blueprint, dashboard_groups={"fnf-secrets"}) == []
    services = blueprint["services"]
    assert len(services) == 3 * plan.streams
    seen = {assert_valid_run(s.get("dockerCommand") or s["startCommand"]) for s in services}
    assert seen == {
        (t, s) for t in ("lead_scoring", "post_harvesting", "post_scoring") for s in range(1, plan.streams + 1)
    }
    (group,) = blueprint["envVarGroups"]
    shared = {v["key"]: v["value"] for v in group["envVars"]}
    assert shared["FNF_COMMAND_POST_SCORING"] == EXAMPLE_ENV["FNF_COMMAND_POST_SCORING"], "every run has its handler"
    assert float(shared["MAX_JOB_PROCESSING_HOURS"]) < deploy.RENDER_CRON_CAP_HOURS
    places = [next(v["value"] for v in s["envVars"] if v.get("key") == "AIRTABLE_SLOT") for s in services]
    total = 3 * plan.streams
    assert sorted(places, key=lambda p: int(p.split("/")[0])) == [f"{i}/{total}" for i in range(1, total + 1)]
    for service in services:
        if plan.secrets == "group":
            assert {"fromGroup": "fnf-secrets"} in service["envVars"]
            assert "create 'fnf-secrets'" in text and "AIRTABLE_API_KEY, AIRTABLE_BASE_ID" in text
        else:
            asked = {v["key"] for v in service["envVars"] if v.get("sync") is False}
            assert {"AIRTABLE_API_KEY", "AIRTABLE_BASE_ID"} <= asked
    runtime = "image" if plan.image else "docker"
    assert {s["runtime"] for s in services} == {runtime}


def test_a_node_handler_on_renders_python_runtime_is_warned_about() -> None:
    warned = deploy.warnings(EXAMPLE, deploy.Plan(3), "render")
    assert len(warned) == 3 and "'node'" in warned[0] and "--docker" in warned[0]
    assert deploy.warnings(EXAMPLE, deploy.Plan(3, docker=True), "render") == []
    python = load_settings(environ={"FNF_HANDLER_LEAD_SCORING": "fnf.examples:score_leads"})
    assert deploy.warnings(python, deploy.Plan(3), "render") == []


def test_no_handler_means_no_schedule_instead_of_runs_that_exit_2() -> None:
    with pytest.raises(UsageError, match="no handler is configured for lead_scoring, post_harvesting"):
        deploy.render(load_settings(environ={}), deploy.Plan(3))
    one = load_settings(environ={"FNF_HANDLER_LEAD_SCORING": "fnf.examples:score_leads"})
    services = yaml.safe_load(deploy.render(one, deploy.Plan(2)))["services"]
    assert [s["name"] for s in services] == ["fnf-lead-scoring-stream-1", "fnf-lead-scoring-stream-2"]
    slots = [v["value"] for s in services for v in s["envVars"] if v.get("key") == "AIRTABLE_SLOT"]
    assert slots == ["1/2", "2/2"], "two runs that may overlap take turns"
    with pytest.raises(UsageError, match="post_scoring"):
        deploy.kubernetes(one, deploy.Plan(2, types=(deploy.JobType.POST_SCORING,)))


@pytest.mark.parametrize("target", ["render", "kubernetes"])
def test_hostile_setting_values_survive_the_yaml_round_trip(target: str) -> None:
    settings = load_settings(environ={**EXAMPLE_ENV, "FNF_COMMAND_LEAD_SCORING": HOSTILE})
    documents = list(yaml.safe_load_all(generated(target, settings)))
    if target == "render":
        values = {v["key"]: v["value"] for v in documents[0]["envVarGroups"][0]["envVars"]}
    else:
        values = documents[0]["data"]
    assert values["FNF_COMMAND_LEAD_SCORING"] == HOSTILE


@pytest.mark.parametrize("streams", [3, 5])
def test_kubernetes_cronjobs_validate_and_meet_the_restricted_pod_security_standard(streams: int) -> None:
    documents = list(yaml.safe_load_all(generated("kubernetes", plan=deploy.Plan(streams, image="ghcr.io/a/fnf:1"))))
    for document in documents:
        kubernetes_validate(document, "1.30.0", strict=True)
    config, jobs = documents[0], documents[1:]
    assert config["kind"] == "ConfigMap" and config["data"]["FNF_STORE"] == "airtable"
    assert all(config["data"][key] == value for key, value in EXAMPLE_ENV.items()), "every Job has its handlers"
    assert len(jobs) == 3 * streams
    for job in jobs:
        spec = job["spec"]
        assert job["kind"] == "CronJob" and spec["concurrencyPolicy"] == "Forbid"
        assert deploy.cron_ok(spec["schedule"])
        template = spec["jobTemplate"]["spec"]
        assert template["activeDeadlineSeconds"] > EXAMPLE.job_timeout
        pod = template["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > EXAMPLE.signal_grace
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = pod["containers"]
        assert container["image"] == "ghcr.io/a/fnf:1"
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        assert_valid_run(" ".join(container["command"]))
        assert {"secretRef": {"name": "fnf-secrets"}} in container["envFrom"]
        assert container["env"][0]["name"] == "AIRTABLE_SLOT"


def test_kubernetes_validation_catches_a_malformed_cronjob() -> None:
    job = list(yaml.safe_load_all(generated("kubernetes")))[1]
    job["spec"]["concurrencyPolicy"] = ["Forbid"]
    with pytest.raises(Exception, match="concurrencyPolicy"):
        kubernetes_validate(job, "1.30.0", strict=True)


def test_the_dockerfile_runs_as_the_user_the_pods_require_and_takes_the_handlers_folder() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert f"USER {deploy.NON_ROOT_UID}:{deploy.NON_ROOT_UID}" in text
    assert f"--uid {deploy.NON_ROOT_UID}" in text
    assert "COPY handlers ./handlers" in text and "pip install --no-cache-dir ." in text
    assert (ROOT / "handlers" / "example.js").exists()
    assert "WORKDIR /app/handlers" in text, "FNF_COMMAND_* paths are relative to the handlers folder"


@pytest.mark.parametrize("streams", [3, 5])
def test_crontab_lines_set_path_survive_a_missing_folder_and_run_valid_commands(streams: int) -> None:
    text = deploy.crontab(EXAMPLE, deploy.Plan(streams, directory="/opt/my fnf"), path="/home/u/.nvm/bin:/usr/bin")
    assert "PATH=/opt/my fnf/.venv/bin:/home/u/.nvm/bin:/usr/bin" in text
    assert "CRON_TZ=UTC" in text and "ignore CRON_TZ" in text
    entries = [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(entries) == 3 * streams
    for line in entries:
        fields = line.split(None, 5)
        assert deploy.cron_ok(" ".join(fields[:5])), line
        command = fields[5]
        assert "%" not in command, "cron turns % into a newline"
        assert command.startswith("cd '/opt/my fnf' && mkdir -p log && .venv/bin/fnf run")
        assert "|| logger -t fnf" in command
        assert_valid_run(command.split("&& .venv/bin/", 1)[1].split(">>", 1)[0])


def test_crontab_lines_run_under_sh_and_report_failures(tmp_path: Path) -> None:
    """A line as cron runs it: sh -c, in a folder whose log directory does not exist yet."""
    project = tmp_path / "proj"
    (project / ".venv" / "bin").mkdir(parents=True)
    fake = project / ".venv" / "bin" / "fnf"
    fake.write_text('#!/bin/sh\necho "ran: $*"\nexit 3\n')
    fake.chmod(0o755)
    text = deploy.crontab(EXAMPLE, deploy.Plan(1, directory=str(project)), path="/usr/bin:/bin")
    line = next(x for x in text.splitlines() if "--type lead_scoring --stream 1" in x)
    command = line.split(None, 5)[5].replace("logger -t fnf", "echo logged:")
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert (project / "log" / "lead_scoring-1.log").read_text() == "ran: run --type lead_scoring --stream 1\n"
    assert "logged: fnf run --type lead_scoring --stream 1 in" in result.stdout and "exit 3" in result.stdout


def test_concurrency_and_the_share_go_into_every_target() -> None:
    four = load_settings(environ={**EXAMPLE_ENV, "FNF_CONCURRENCY": "4", "FNF_STORE": "airtable",
                                  "AIRTABLE_API_KEY": "pat.x", "AIRTABLE_BASE_ID": "appABCDEFGHIJKLMN"})  # fmt: skip
    (group,) = yaml.safe_load(generated("render", four))["envVarGroups"]
    assert {"key": "FNF_CONCURRENCY", "value": "4"} in group["envVars"]
    config_map = next(d for d in yaml.safe_load_all(generated("kubernetes", four)) if d["kind"] == "ConfigMap")
    assert config_map["data"]["FNF_CONCURRENCY"] == "4"
    cron = generated("crontab", four)
    assert "FNF_CONCURRENCY=4" in cron
    assert "&& AIRTABLE_SLOT=9/9 .venv/bin/fnf run --type post_scoring --stream 3" in cron
    sqlite = deploy.crontab(load_settings(environ=EXAMPLE_ENV), deploy.Plan(3), path=SHIPPED_PATH)
    assert "AIRTABLE_SLOT=" not in sqlite, "SQLite runs share no base"
    assert "FNF_CONCURRENCY" not in generated("render"), "the default is not written out"


def test_fnf_deploy_without_handlers_exits_2_naming_the_variables(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fnf", "deploy", "kubernetes"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "FNF_ENV_FILE": str(tmp_path / "none.env"), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "FNF_HANDLER_LEAD_SCORING" in result.stderr and not result.stdout


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
