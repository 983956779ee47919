"""``fnf demo``: a throwaway store, sample clients and two runs that show stop and resume."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from fnf import commands
from fnf.config import Overrides, Settings, load_settings
from fnf.models import Client
from fnf.run.request import RunReport, RunRequest

_NAMES = [
    "Acme Analytics",
    "Birch & Co",
    "Cobalt Media",
    "Dune Outdoor",
    "Ember Foods",
    "Fjord Travel",
    "Granite Legal",
    "Harbor Health",
    "Iris Design",
    "Juniper Labs",
    "Kestrel Air",
    "Lumen Solar",
    "Maple Dental",
    "Nimbus Cloud",
    "Orchid Spa",
    "Pioneer Tools",
    "Quartz Finance",
    "Rowan Books",
    "Summit Gear",
    "Tidal Surf",
    "Umber Coffee",
    "Vantage Realty",
    "Willow Yoga",
    "Xenon Lighting",
    "Yarrow Farms",
    "Zephyr Bikes",
    "Atlas Movers",
    "Beacon Tutors",
    "Cedar Homes",
    "Delta Print",
    'O\'Brien "Jr" & Sons; rm -rf ~',
    "Falcon Security",
    "Gamma Games",
    "Helix Bio",
    "Indigo Textiles",
    "Jade Jewelry",
]
STREAMS = 3


def sample_clients() -> list[Client]:
    """36 clients, round-robin over 3 streams; in stream 1 one hangs, one fails and one is slow.

    The slow one (c22, 1.9 s) starts at least 3 s into the first run (after c04's 2 s limit and
    five clients of 0.2 s), so it is in flight at the 4 s job deadline unless the machine adds a
    whole second of overhead to seven clients: the demo shows a client cut short, not a deadline
    that fell between two clients.
    """
    clients = []
    for index, name in enumerate(_NAMES):
        client_id = f"c{index + 1:02d}"
        behaviour = {"c04": "hang", "c07": "fail"}.get(client_id, "ok")
        seconds = "1.9" if client_id == "c22" else "0.2"
        fields = {"behaviour": behaviour, "work_seconds": seconds, "plan": "pro" if index % 4 == 0 else "basic"}
        clients.append(Client(client_id, name, index % STREAMS + 1, fields))
    return clients


def demo_settings(directory: Path) -> Settings:
    environ = {
        **os.environ,
        "FNF_STORE": "sqlite",
        "FNF_HANDLER_LEAD_SCORING": "fnf.examples:score_leads",
        "FNF_HANDLER_POST_HARVESTING": "fnf.examples:harvest_posts",
        "FNF_HANDLER_POST_SCORING": "fnf.examples:score_posts",
        "HEARTBEAT_INTERVAL_MINUTES": "0.02",
    }
    for key in ("FNF_COMMAND_LEAD_SCORING", "FNF_COMMAND_POST_HARVESTING", "FNF_COMMAND_POST_SCORING"):
        environ.pop(key, None)
    overrides = Overrides(db=str(directory / "demo.db"), client_timeout="2s", job_timeout="4s", kill_grace="1s")
    return load_settings(overrides, environ=environ)


def run_demo(directory: Path | None, say: Callable[[str], None]) -> tuple[Settings, list[RunReport]]:
    """Import the sample clients, run stream 1 twice; return the settings and both reports."""
    directory = directory or Path(tempfile.mkdtemp(prefix="fnf-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    settings = demo_settings(directory)
    with commands.store_for(settings, create=True) as store:
        store.import_clients(sample_clients())
    say(f"Demo store: {settings.db_path}: {len(_NAMES)} clients spread over {STREAMS} streams.")
    say(
        "Each stream has its own cron line; the demo runs stream 1 (12 clients) twice, with a client limit "
        "of 2 s and a job deadline of 4 s. In stream 1, c04 hangs, c07's token was revoked and c22 is slow."
    )
    request = RunRequest(run_type="lead_scoring", stream=1)
    reports = []
    for attempt in (1, 2):
        say("")  # say() escapes control characters, a newline included
        say(f"== Run {attempt}: fnf run --type lead_scoring --stream 1")
        report = commands.run(settings, request)
        reports.append(report)
        say(f"-> {report.outcome.value}: {report.message}")
    return settings, reports


def explanation(settings: Settings, reports: list[RunReport]) -> list[str]:
    """What the two runs did and why, and three commands to try next on the demo's store."""
    first, second = reports
    db = settings.db_path
    return [
        "",
        "What happened:",
        f"  Run 1 ({first.outcome.value}): the 4 s job deadline came part-way through stream 1; fnf stopped "
        f"the client in flight, recorded it JOB_TIMEOUT_KILLED and where the run stopped ({first.stopped_at}).",
        "  c04 hung: fnf killed it at its 2 s client limit (CLIENT_TIMEOUT_KILLED); after 3 in a row it is "
        "quarantined.",
        "  c07 failed with kind 'auth' (its handler raised AuthFailed): recorded FAILED, alerted, not retried "
        "until the next sweep; a 'transient' failure would have been retried within the run.",
        f"  Run 2 ({second.outcome.value}): resumed at {first.stopped_at}, and skipped every client run 1 finished.",
        "",
        "Try next:",
        f"  fnf status --db {db}                 every stream and client, problems first",
        f"  fnf history --db {db}                the two runs, their outcomes and failures by kind",
        f"  FNF_HANDLER_LEAD_SCORING=fnf.examples:score_leads fnf run --type lead_scoring --stream 2 --db {db}",
    ]
