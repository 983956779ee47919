"""``fnf deploy``: print scheduler configuration for N streams."""

from __future__ import annotations

from typing import Annotated

import typer

from fnf.cli.common import settings
from fnf.errors import EXIT_OK, UsageError


def deploy(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="render, crontab or kubernetes.")],
    streams: Annotated[int, typer.Option("--streams", "-n", metavar="N", help="How many streams. Example: -n 3")] = 3,
) -> int:
    """Print a Render Blueprint, a crontab or Kubernetes CronJobs for N streams from the current settings.

    Example: fnf deploy render --streams 4 > render.yaml
    """
    from fnf import deploy as generator

    if target not in generator.TARGETS:
        raise UsageError(f"{target!r} is not a deploy target: use one of {', '.join(generator.TARGETS)}")
    if not 1 <= streams <= 60:
        raise UsageError(f"--streams {streams} is not a number of streams fnf can schedule: use 1 to 60")
    typer.echo(generator.generate(target, settings(), streams), nl=False)
    return EXIT_OK
