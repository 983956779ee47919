"""Scheduler configuration for N streams: a Render Blueprint, a crontab, Kubernetes CronJobs.

fnf scales out by streams, each an independent scheduled job. These functions print the same
schedule for each scheduler from the current settings, so that adding a stream is one command
(``fnf deploy render --streams 4 > render.yaml``). YAML is written by a YAML emitter, never by
string pasting, so any setting value (quotes, backslashes, colons) survives the round trip.

A job type is scheduled only if it has a handler: a schedule whose every run exits 2 is the
failure fnf exists to prevent. The shipped files are the output for three streams with the
example Node handlers of the Dockerfile; a test keeps them in step.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fnf.config import Settings
from fnf.errors import UsageError
from fnf.models import JobType

TARGETS = ("render", "crontab", "kubernetes")
SECRET_MODES = ("group", "prompt")

RENDER_CRON_CAP_HOURS = 12.0
"""Render stops a cron job after 12 hours; the job deadline must stay under it."""
NON_ROOT_UID = 10001
"""The user the shipped Dockerfile creates; Kubernetes runs the pods as it."""
SECRETS = ("AIRTABLE_API_KEY", "AIRTABLE_BASE_ID")
ALERT_SECRETS = {
    "ALERT_EMAIL": "recipients",
    "SENDGRID_API_KEY": "sendgrid_key",
    "SMTP_URL": "smtp_url",
    "SLACK_WEBHOOK_URL": "slack_url",
    "ALERT_WEBHOOK_URL": "webhook_url",
    "ALERT_WEBHOOK_SECRET": "webhook_secret",
    "FNF_PING_URL": "ping_url",
}


@dataclass(frozen=True)
class Plan:
    """What to schedule and how to package it."""

    streams: int = 3
    types: tuple[JobType, ...] = ()
    """Empty: every job type that has a handler."""
    image: str | None = None
    """A prebuilt image (Render ``runtime: image``, the Kubernetes pods' image)."""
    docker: bool = False
    """Render builds the repository's Dockerfile (``runtime: docker``)."""
    directory: str = "/srv/fnf"
    """crontab: the project directory, with its .venv and .env."""
    secrets: str = "group"
    """Render: ``group`` references a dashboard env group; ``prompt`` asks per service."""


def schedule(job_type: JobType, stream: int) -> str:
    """Lead scoring hourly, harvesting and post scoring daily (UTC); streams staggered by 5 minutes
    so that they do not all reach a shared Airtable base in the same second."""
    minute = (5 * (stream - 1)) % 60
    hour_shift = (5 * (stream - 1)) // 60
    if job_type is JobType.LEAD_SCORING:
        return f"{minute} * * * *"
    hour = (2 if job_type is JobType.POST_HARVESTING else 4) + hour_shift
    return f"{minute} {hour % 24} * * *"


def slots(types: Sequence[JobType], streams: int) -> dict[tuple[JobType, int], str]:
    """``AIRTABLE_SLOT`` for every scheduled (type, stream): its place among all of them, since
    job types overlap (an hourly lead scoring run meets the daily ones) and any may run at once."""
    total = len(types) * streams
    pairs = [(t, s) for t in types for s in range(1, streams + 1)]
    return {pair: f"{index}/{total}" for index, pair in enumerate(pairs, 1)}


def _number(value: float) -> str:
    return f"{value:g}"


def scheduled_types(settings: Settings, plan: Plan) -> tuple[JobType, ...]:
    """The job types to schedule: those asked for, each of which must have a handler."""
    wanted = plan.types or tuple(t for t in JobType if t in settings.handlers)
    missing = [t for t in wanted if t not in settings.handlers]
    if not wanted or missing:
        names = missing or list(JobType)
        how = ", ".join(f"FNF_HANDLER_{t.value.upper()} or FNF_COMMAND_{t.value.upper()}" for t in names)
        raise UsageError(
            f"no handler is configured for {', '.join(t.value for t in names)}: every scheduled run of it would "
            f"exit 2. Set {how} (in .env or the environment) before generating, or schedule only the types "
            "that have one with --types"
        )
    return tuple(wanted)


def _settings_env(settings: Settings, plan: Plan, types: Sequence[JobType], *, hours: float) -> dict[str, str]:
    env = {
        "FNF_STORE": "airtable",
        "MAX_CLIENT_PROCESSING_MINUTES": _number(settings.client_timeout / 60),
        "MAX_JOB_PROCESSING_HOURS": _number(hours),
        "HEARTBEAT_INTERVAL_MINUTES": _number(settings.heartbeat_interval / 60),
    }
    if settings.concurrency > 1:
        env["FNF_CONCURRENCY"] = str(settings.concurrency)
    for job_type in types:
        spec = settings.handlers[job_type]
        env[spec.source] = spec.value
    return env


def _alert_keys(settings: Settings) -> list[str]:
    return [key for key, attr in ALERT_SECRETS.items() if getattr(settings.alerts, attr)]


def _command(job_type: JobType, stream: int) -> str:
    return f"fnf run --type {job_type.value} --stream {stream}"


def _yaml(documents: Sequence[Mapping[str, Any]], header: Sequence[str]) -> str:
    import yaml  # only fnf deploy pays for it

    body: str = yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)
    return "".join(f"# {line}".rstrip() + "\n" for line in header) + body


def warnings(settings: Settings, plan: Plan, target: str) -> list[str]:
    """What would make the generated schedule fail at run time, said before it is deployed."""
    out = []
    if target == "render" and not (plan.image or plan.docker):
        for job_type in scheduled_types(settings, plan):
            spec = settings.handlers[job_type]
            program = shlex.split(spec.value)[0] if spec.kind == "command" and spec.value.strip() else "python"
            if not re.match(r"(python3?|fnf)$", os.path.basename(program)):
                out.append(
                    f"{spec.source} runs {program!r}, which Render's python runtime does not have: "
                    "use --docker (builds the repository's Dockerfile) or --image URL"
                )
    return out


# -- Render -----------------------------------------------------------------------------------
def render(settings: Settings, plan: Plan) -> str:
    types = scheduled_types(settings, plan)
    hours = min(settings.job_timeout / 3600, RENDER_CRON_CAP_HOURS - 1)
    shared = _settings_env(settings, plan, types, hours=hours)
    secrets = [*SECRETS, *_alert_keys(settings)]
    places = slots(types, plan.streams)
    services = [_render_service(plan, t, s, secrets, places[(t, s)]) for t in types for s in range(1, plan.streams + 1)]
    header = [
        "Render Blueprint for fnf: one cron job per (job type, stream), all sharing one Airtable base",
        "(Render cron jobs have no disk that outlives them, so the store is Airtable).",
        f"Generated by: fnf deploy render --streams {plan.streams}" + _flags(plan),
        "Schedules are UTC; streams start 5 minutes apart. MAX_JOB_PROCESSING_HOURS stays under Render's",
        "12-hour cap. Each cron job has its AIRTABLE_SLOT, its quarter second in a cycle shared by all",
        f"{len(types) * plan.streams} of them, so that the base never sees more than 5 requests in a second.",
    ]
    if plan.secrets == "group":
        header += [
            "Secrets are entered once, in an environment group this Blueprint only references: before",
            "creating the Blueprint, open Env Groups in the Render dashboard, create 'fnf-secrets' and add",
            f"{', '.join(secrets)}. (Render cannot prompt for secrets inside a Blueprint's env group.)",
        ]
    else:
        header += ["Secrets (sync: false) are asked for once per cron job when the Blueprint is created."]
    header += ["To add a stream: regenerate with --streams N, then: fnf streams assign --streams N --yes"]
    group = {"name": "fnf-shared", "envVars": [{"key": k, "value": v} for k, v in shared.items()]}
    return _yaml([{"envVarGroups": [group], "services": services}], header)


def _render_service(plan: Plan, job_type: JobType, stream: int, secrets: Sequence[str], slot: str) -> dict[str, Any]:
    service: dict[str, Any] = {
        "type": "cron",
        "name": f"fnf-{job_type.value.replace('_', '-')}-stream-{stream}",
        "schedule": schedule(job_type, stream),
    }
    if plan.image:
        service.update(runtime="image", image={"url": plan.image}, dockerCommand=_command(job_type, stream))
    elif plan.docker:
        service.update(
            runtime="docker",
            dockerfilePath="./Dockerfile",
            dockerContext=".",
            dockerCommand=_command(job_type, stream),
        )
    else:
        service.update(runtime="python", buildCommand="pip install .", startCommand=_command(job_type, stream))
    env: list[dict[str, Any]] = [{"key": "AIRTABLE_SLOT", "value": slot}, {"fromGroup": "fnf-shared"}]
    if plan.secrets == "group":
        env.append({"fromGroup": "fnf-secrets"})
    else:
        env += [{"key": key, "sync": False} for key in secrets]
    service["envVars"] = env
    return service


def _flags(plan: Plan) -> str:
    flags = ""
    if plan.types:
        flags += " --types " + ",".join(t.value for t in plan.types)
    if plan.image:
        flags += f" --image {plan.image}"
    if plan.docker:
        flags += " --docker"
    if plan.secrets != "group":
        flags += f" --secrets {plan.secrets}"
    return flags


# -- crontab ----------------------------------------------------------------------------------
def crontab(settings: Settings, plan: Plan, *, path: str | None = None) -> str:
    types = scheduled_types(settings, plan)
    directory = plan.directory.rstrip("/") or "/"
    search = f"{directory}/.venv/bin:" + (path if path is not None else os.environ.get("PATH", "/usr/bin:/bin"))
    lines = [
        f"# fnf on crontab: one line per (job type, stream). Generated by: fnf deploy crontab --streams {plan.streams}"
        + (f" --directory {directory}" if directory != "/srv/fnf" else ""),
        f"# Each line runs in {directory} (the project, with its .venv) so that fnf reads the .env there:",
        "# the store (FNF_STORE=sqlite with FNF_DB on one machine, or FNF_STORE=airtable for many),",
        "# the handlers (FNF_HANDLER_<TYPE> or FNF_COMMAND_<TYPE>) and the alert channels.",
        "# Output is appended to log/<type>-<stream>.log there (the folder is made if missing); if the line",
        "# itself fails (a missing folder, a non-zero exit) it says so in syslog (journalctl -t fnf).",
        "# No flock is needed: fnf holds its own lease per (type, stream), so a tick that finds the previous",
        "# run still going records itself as busy and exits 0; a run that died is taken over.",
        "# With the Airtable store each line has its AIRTABLE_SLOT, its quarter second in a cycle shared by",
        "# all lines, so that the base never sees more than 5 requests in a second.",
        "# PATH is the one this file was generated with (cron's own is /usr/bin:/bin, where node, nvm's",
        "# tools and /usr/local/bin are missing).",
        "# Times are UTC through CRON_TZ. Debian's and Ubuntu's cron ignore CRON_TZ and use the machine's",
        "# zone: there, set the machine to UTC (timedatectl set-timezone UTC) or shift the hours by hand.",
        "CRON_TZ=UTC",
        "SHELL=/bin/sh",
        f"PATH={search}",
    ]
    if settings.concurrency > 1:
        lines.append(f"FNF_CONCURRENCY={settings.concurrency}")
    lines.append("# m h dom mon dow  command")
    where = shlex.quote(directory)
    places = slots(types, plan.streams)
    for job_type in types:
        for stream in range(1, plan.streams + 1):
            tag = f"{job_type.value}-{stream}"
            run = _command(job_type, stream)
            slot = f"AIRTABLE_SLOT={places[(job_type, stream)]} " if settings.store == "airtable" else ""
            command = f"cd {where} && mkdir -p log && {slot}.venv/bin/{run} >> log/{tag}.log 2>&1"
            report = f'logger -t fnf "{run} in {directory} failed: exit $? (see log/{tag}.log)"'
            lines.append(f"{schedule(job_type, stream):<14} {command} || {report}")
    return "\n".join(lines) + "\n"


# -- Kubernetes -------------------------------------------------------------------------------
def kubernetes(settings: Settings, plan: Plan) -> str:
    types = scheduled_types(settings, plan)
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "fnf-settings"},
        "data": _settings_env(settings, plan, types, hours=settings.job_timeout / 3600),
    }
    places = slots(types, plan.streams)
    jobs = [_cronjob(settings, plan, t, s, places[(t, s)]) for t in types for s in range(1, plan.streams + 1)]
    secrets = " ".join(f"--from-literal={key}=..." for key in (*SECRETS, *_alert_keys(settings)))
    header = [
        "fnf on Kubernetes: one CronJob per (job type, stream), all sharing one Airtable base.",
        f"Generated by: fnf deploy kubernetes --streams {plan.streams}" + _flags(plan),
        "Secrets come from a Secret you create once:",
        f"  kubectl create secret generic fnf-secrets {secrets}",
        "The image is the repository's Dockerfile built and pushed (pass its name with --image); it runs",
        f"as user {NON_ROOT_UID}, and the pods meet the 'restricted' Pod Security Standard.",
        "Each CronJob has its AIRTABLE_SLOT, its quarter second in a cycle shared by all of them, so that",
        "the base never sees more than 5 requests in a second.",
        "concurrencyPolicy Forbid and fnf's own lease both keep one run per stream; activeDeadlineSeconds",
        "is above the job deadline, so fnf always stops itself first, and terminationGracePeriodSeconds",
        "leaves time for its clean stop on SIGTERM.",
    ]
    return _yaml([config, *jobs], header)


def _cronjob(settings: Settings, plan: Plan, job_type: JobType, stream: int, slot: str) -> dict[str, Any]:
    container = {
        "name": "fnf",
        "image": plan.image or "registry.example.com/fnf:latest",
        "command": _command(job_type, stream).split(),
        "env": [{"name": "AIRTABLE_SLOT", "value": slot}],
        "envFrom": [{"configMapRef": {"name": "fnf-settings"}}, {"secretRef": {"name": "fnf-secrets"}}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": math.ceil(settings.signal_grace) + 30,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NON_ROOT_UID,
            "runAsGroup": NON_ROOT_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": f"fnf-{job_type.value.replace('_', '-')}-{stream}"},
        "spec": {
            "schedule": schedule(job_type, stream),
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": math.ceil(settings.job_timeout) + 600,
                    "template": {"spec": pod},
                }
            },
        },
    }


def generate(target: str, settings: Settings, plan: Plan) -> str:
    if target == "render":
        return render(settings, plan)
    if target == "crontab":
        return crontab(settings, plan)
    return kubernetes(settings, plan)


_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def cron_ok(expression: str) -> bool:
    """Whether ``expression`` is a valid five-field cron schedule (numbers, *, ranges, steps, lists)."""
    fields = expression.split()
    if len(fields) != 5:
        return False
    return all(_field_ok(field, low, high) for field, (low, high) in zip(fields, _FIELD_RANGES, strict=True))


def _field_ok(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if match is None:
            return False
        first, last, step = match.group(2), match.group(3), match.group(4)
        if step is not None and int(step) < 1:
            return False
        if first is not None:
            start = int(first)
            end = int(last) if last is not None else start
            if not (low <= start <= high and low <= end <= high and start <= end):
                return False
    return True
