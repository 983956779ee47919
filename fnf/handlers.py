"""Resolving a job type to the work it runs: a Python callable or an external command.

Both are resolved once, in the runner, before any client is touched: a handler that does not
import or a command that is not on PATH is a configuration error (exit 2), not 240 failures.
A Python callable is imported again by the run's process server (``fnf.proc.server``), which forks
each client's process from that small image: a client costs a fork, not a fresh interpreter.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fnf.errors import HandlerError
from fnf.failures import FailureKind
from fnf.models import Client, JobType

PLACEHOLDERS = ("client_id", "client_name", "stream", "job_id", "job_type", "run_id")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Context:
    """What a Python handler gets besides the client: its deadline, ids and a progress channel."""

    job_type: JobType
    job_id: str
    run_id: str
    stream: int
    deadline: datetime
    """When fnf will stop this client (UTC); finish or checkpoint before then."""
    deadline_monotonic: float
    progress_path: Path | None = None

    def seconds_left(self) -> float:
        return max(0.0, self.deadline_monotonic - time.monotonic())

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Report progress; fnf shows it in ``fnf status`` and marks the client RUNNING."""
        if self.progress_path is None:
            return
        tmp = self.progress_path.with_suffix(".progress.tmp")
        tmp.write_text(json.dumps({"done": done, "total": total, "message": message}))
        os.replace(tmp, self.progress_path)


class HandlerFailure(Exception):  # noqa: N818 - raised by handlers to say how they failed
    """Raise a subclass from a handler to tell fnf what kind of failure this is (``fnf.failures``);
    any other exception is a ``crash``. The message is recorded as the client's message."""

    kind: FailureKind = FailureKind.CRASH


class RetryLater(HandlerFailure):
    """A failure that may pass (a rate limit, a timeout upstream): fnf retries the client within the
    run, after ``after`` seconds if given, else after its backoff (FNF_RETRY_BACKOFF_SECONDS)."""

    kind = FailureKind.TRANSIENT

    def __init__(self, message: str = "retry later", *, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


class Unavailable(HandlerFailure):
    """A service the work needs is down."""

    kind = FailureKind.UNAVAILABLE


class AuthFailed(HandlerFailure):
    """Credentials were refused (an expired token, a revoked key)."""

    kind = FailureKind.AUTH


class BadData(HandlerFailure):
    """The client's own data is wrong: retrying will not help until it is fixed."""

    kind = FailureKind.DATA


class BadConfig(HandlerFailure):
    """The work is misconfigured (a missing setting, a wrong URL)."""

    kind = FailureKind.CONFIG


HandlerFunc = Callable[[Client, Context], Any]


@dataclass(frozen=True)
class HandlerSpec:
    """How a job type is configured: a ``module:function`` or a command line template."""

    job_type: JobType
    kind: str  # "python" or "command"
    value: str
    source: str
    """The variable it came from, named in every error about it."""


@dataclass(frozen=True)
class PythonHandler:
    spec: HandlerSpec
    func: HandlerFunc


@dataclass(frozen=True)
class CommandHandler:
    spec: HandlerSpec
    argv: tuple[str, ...]
    executable: str

    def render(self, values: Mapping[str, str]) -> list[str]:
        """Fill placeholders argument by argument: client data can never become extra arguments."""
        return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in self.argv]


Handler = PythonHandler | CommandHandler


def placeholder_values(client: Client, job_type: JobType, job_id: str, run_id: str) -> dict[str, str]:
    return {
        "client_id": client.id,
        "client_name": client.name,
        "stream": "" if client.stream is None else str(client.stream),
        "job_id": job_id,
        "job_type": job_type.value,
        "run_id": run_id,
    }


def resolve(spec: HandlerSpec, environ: Mapping[str, str]) -> Handler:
    if spec.kind == "python":
        return PythonHandler(spec, _import_callable(spec))
    return _command(spec, environ)


def resolve_all(
    job_types: tuple[JobType, ...], specs: Mapping[JobType, HandlerSpec], environ: Mapping[str, str]
) -> dict[JobType, Handler]:
    handlers: dict[JobType, Handler] = {}
    for job_type in job_types:
        spec = specs.get(job_type)
        if spec is None:
            suffix = job_type.value.upper()
            env_file = Path(os.environ.get("FNF_ENV_FILE", ".env")).absolute()
            looked = f"{env_file}" + ("" if env_file.is_file() else " (no such file)")
            raise HandlerError(
                f"no handler is configured for {job_type.value} (looked in the environment and {looked}): "
                f"set FNF_HANDLER_{suffix}=package.module:function or "
                f'FNF_COMMAND_{suffix}="command --client {{client_id}}"'
            )
        handlers[job_type] = resolve(spec, environ)
    return handlers


def _import_callable(spec: HandlerSpec) -> HandlerFunc:
    module_name, sep, attr = spec.value.partition(":")
    if not sep or not module_name or not attr:
        raise HandlerError(
            f"{spec.source}={spec.value!r} is not of the form package.module:function "
            "(for example fnf.examples:score_leads)"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import can fail in any way; report it as configuration
        raise HandlerError(
            f"{spec.source}={spec.value!r}: cannot import module {module_name!r} "
            f"({type(exc).__name__}: {exc}); check the name and that it is installed or in "
            "the current directory"
        ) from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise HandlerError(f"{spec.source}={spec.value!r}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise HandlerError(f"{spec.source}={spec.value!r}: {attr!r} is not callable")
    func: HandlerFunc = target
    return func


def _command(spec: HandlerSpec, environ: Mapping[str, str]) -> CommandHandler:
    try:
        argv = tuple(shlex.split(spec.value))
    except ValueError as exc:
        raise HandlerError(f"{spec.source}={spec.value!r} cannot be split into arguments: {exc}") from exc
    if not argv:
        raise HandlerError(f'{spec.source} is empty: set it to a command such as "node score.js"')
    for arg in argv:
        for name in _PLACEHOLDER.findall(arg):
            if name not in PLACEHOLDERS:
                allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                raise HandlerError(
                    f"{spec.source}={spec.value!r} uses unknown placeholder {{{name}}}: use one of {allowed}"
                )
    program = argv[0]
    if "/" in program:
        found = program if os.access(program, os.X_OK) and Path(program).is_file() else None
    else:
        found = shutil.which(program, path=environ.get("PATH", os.environ.get("PATH")))
    if found is None:
        raise HandlerError(
            f"{spec.source}={spec.value!r}: command {program!r} was not found or is not "
            "executable; install it, fix PATH, or give its full path"
        )
    return CommandHandler(spec, argv, found)
