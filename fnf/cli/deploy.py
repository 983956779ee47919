"""``fnf deploy``: print scheduler configuration for N streams."""

from __future__ import annotations

from typing import Annotated

import typer

from fnf.cli.common import settings
from fnf.errors import EXIT_OK, UsageError
from fnf.models import JobType


def deploy(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="render, crontab or kubernetes.")],
    streams: Annotated[int, typer.Option("--streams", "-n", metavar="N", help="How many streams. Example: -n 3")] = 3,
    types: Annotated[
        str | None,
        typer.Option(
            "--types",
            metavar="TYPES",
            help="Comma-separated job types to schedule (default: every type with a handler). Example: lead_scoring",
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", metavar="URL", help="A built image with fnf and your handlers (Render, Kubernetes)."),
    ] = None,
    docker: Annotated[
        bool, typer.Option("--docker", help="Render builds the repository's Dockerfile (for non-Python handlers).")
    ] = False,
    directory: Annotated[
        str, typer.Option("--directory", metavar="DIR", help="crontab: the project directory with its .venv and .env.")
    ] = "/srv/fnf",
    secrets: Annotated[
        str,
        typer.Option(
            "--secrets",
            metavar="HOW",
            help="Render: 'group' references the dashboard env group fnf-secrets; 'prompt' asks per cron job.",
        ),
    ] = "group",
) -> int:
    """Print a Render Blueprint, a crontab or Kubernetes CronJobs for N streams from the current settings.

    Only job types with a handler are scheduled. Warnings (a Node handler on Render's python
    runtime, say) go to stderr.

    Example: fnf deploy render --streams 4 --docker > render.yaml
    """
    from fnf import deploy as generator

    if target not in generator.TARGETS:
        raise UsageError(f"{target!r} is not a deploy target: use one of {', '.join(generator.TARGETS)}")
    if not 1 <= streams <= 60:
        raise UsageError(f"--streams {streams} is not a number of streams fnf can schedule: use 1 to 60")
    if secrets not in generator.SECRET_MODES:
        raise UsageError(f"--secrets {secrets!r} is not one of: {', '.join(generator.SECRET_MODES)}")
    if image is not None and docker:
        raise UsageError("--image and --docker both say how Render gets the image: give one of them")
    if not directory.startswith("/"):
        raise UsageError(f"--directory {directory!r} is not an absolute path: cron starts in $HOME, use /srv/fnf")
    plan = generator.Plan(streams, _types(types), image, docker, directory, secrets)
    current = settings()
    text = generator.generate(target, current, plan)
    for warning in generator.warnings(current, plan, target):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(text, nl=False)
    return EXIT_OK


def _types(text: str | None) -> tuple[JobType, ...]:
    if not text:
        return ()
    out = []
    for name in (part.strip() for part in text.split(",") if part.strip()):
        try:
            out.append(JobType(name))
        except ValueError:
            known = ", ".join(t.value for t in JobType)
            raise UsageError(f"--types: {name!r} is not a job type: use {known}") from None
    return tuple(dict.fromkeys(out))
