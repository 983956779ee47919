"""Render's Blueprint rules, as its Blueprint reference states them, for the files fnf generates.

Render validates a Blueprint only when it is synced in its dashboard; this checks the same rules
here: known root and service fields, the fields each runtime needs and refuses, cron schedules,
and environment variables (one source each; an environment group may hold only plain values and
generated ones: Render ignores ``sync: false`` there, so it never asks for such a secret).
"""

from __future__ import annotations

from typing import Any

ROOT_FIELDS = {"services", "databases", "envVarGroups", "projects", "ungrouped", "previews", "version"}
SERVICE_TYPES = {"web", "pserv", "worker", "cron", "keyvalue", "redis"}
NATIVE_RUNTIMES = {"node", "python", "elixir", "go", "ruby", "rust"}
RUNTIMES = NATIVE_RUNTIMES | {"docker", "image", "static"}
SERVICE_FIELDS = {
    "type", "name", "runtime", "schedule", "plan", "region", "repo", "branch", "rootDir", "buildCommand",
    "startCommand", "dockerCommand", "dockerfilePath", "dockerContext", "image", "envVars", "autoDeploy",
    "autoDeployTrigger", "buildFilter", "registryCredential",
}  # fmt: skip
SOURCES = {"value", "generateValue", "sync", "fromDatabase", "fromService"}


def problems(blueprint: Any, *, dashboard_groups: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """Every rule the Blueprint breaks; ``dashboard_groups`` exist in the workspace already."""
    if not isinstance(blueprint, dict):
        return ["the root is not a mapping"]
    out = [f"unknown root field {k!r}" for k in blueprint if k not in ROOT_FIELDS]
    groups = {g.get("name") for g in blueprint.get("envVarGroups") or []}
    for group in blueprint.get("envVarGroups") or []:
        for var in group.get("envVars") or []:
            out += _var(var, f"group {group.get('name')}", in_group=True)
    names = [s.get("name") for s in blueprint.get("services") or []]
    out += [f"service name {n!r} is used twice" for n in set(names) if names.count(n) > 1]
    for service in blueprint.get("services") or []:
        out += _service(service, groups | set(dashboard_groups))
    return out


def _service(service: dict[str, Any], groups: set[str]) -> list[str]:
    where = f"service {service.get('name')!r}"
    out = [f"{where}: unknown field {k!r}" for k in service if k not in SERVICE_FIELDS]
    if service.get("type") not in SERVICE_TYPES:
        out.append(f"{where}: type {service.get('type')!r}")
    runtime = service.get("runtime")
    if runtime not in RUNTIMES:
        out.append(f"{where}: runtime {runtime!r}")
    if service.get("type") == "cron" and not isinstance(service.get("schedule"), str):
        out.append(f"{where}: a cron job needs a schedule")
    if runtime in NATIVE_RUNTIMES:
        out += [f"{where}: {runtime} needs {f}" for f in ("buildCommand", "startCommand") if not service.get(f)]
        out += [f"{where}: {f} is for Docker runtimes" for f in ("dockerCommand", "dockerfilePath") if f in service]
    if runtime in ("docker", "image"):
        out += [f"{where}: {f} is for native runtimes" for f in ("buildCommand", "startCommand") if f in service]
    if runtime == "image" and not (service.get("image") or {}).get("url"):
        out.append(f"{where}: runtime image needs image.url")
    if runtime != "image" and "image" in service:
        out.append(f"{where}: image is only for runtime image")
    for var in service.get("envVars") or []:
        out += _var(var, where, in_group=False)
        if "fromGroup" in var and var["fromGroup"] not in groups:
            out.append(f"{where}: env group {var['fromGroup']!r} is neither in the Blueprint nor in the workspace")
    return out


def _var(var: dict[str, Any], where: str, *, in_group: bool) -> list[str]:
    if "fromGroup" in var:
        return [] if set(var) == {"fromGroup"} and not in_group else [f"{where}: bad fromGroup entry {var}"]
    out = [] if isinstance(var.get("key"), str) and var["key"] else [f"{where}: a variable without a key: {var}"]
    sources = SOURCES & set(var)
    if len(sources) != 1 or set(var) - SOURCES - {"key"}:
        out.append(f"{where}: {var.get('key')} needs exactly one of {sorted(SOURCES)}")
    if "value" in var and not isinstance(var["value"], str):
        out.append(f"{where}: {var.get('key')}'s value is not a string")
    if "sync" in var and var["sync"] is not False:
        out.append(f"{where}: {var.get('key')}: sync may only be false")
    if in_group and sources & {"sync", "fromDatabase", "fromService"}:
        out.append(f"{where}: {var.get('key')}: an environment group cannot hold {sorted(sources)[0]}")
    return out
