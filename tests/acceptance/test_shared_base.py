"""Runs that share one base at Airtable's real limit: 5 requests in any rolling second, 30 s of
429s for everyone after a breach. With each run at its share, the base never sees a breach."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from acceptance.conftest import make_project
from acceptance.test_origin_base import origin_base
from airtable_helpers import TOKEN

from fnf.deploy import slots
from fnf.models import JobType
from fnf.testing.airtable_emulator import Emulator


@pytest.fixture
def real_limits() -> Iterator[Emulator]:
    with Emulator(TOKEN, penalty=30.0) as running:
        yield running


def test_schema_apply_on_an_operators_base_at_the_real_limit_never_breaches_it(
    tmp_path: Path, real_limits: Emulator
) -> None:
    project = make_project(tmp_path, "airtable", real_limits, schema=False, rate_limit=5)
    real_limits.base(project.base_id, rate_limit=100_000)
    origin_base(project, [{"Client Name": "A", "Processing Stream": 1}])
    real_limits.base(project.base_id, rate_limit=5)
    real_limits.bases[project.base_id].calls.clear()
    applied = project.fnf("schema", "apply", env={"AIRTABLE_REQUESTS_PER_SECOND": "5"})
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count("created field") >= 9
    assert real_limits.stats.rate_limited == 0


@pytest.mark.slow
def test_five_streams_on_one_base_in_their_slots_get_no_429_and_finish(tmp_path: Path, real_limits: Emulator) -> None:
    project = make_project(tmp_path, "airtable", real_limits, rate_limit=5)
    project.env.update(
        {
            "HEARTBEAT_INTERVAL_MINUTES": "1",
            "AIRTABLE_RATE_LIMIT_WAIT_SECONDS": "30",
            "AIRTABLE_RETRY_BUDGET_SECONDS": "300",
        }
    )
    real_limits.base(project.base_id, rate_limit=100_000)
    rows = [{"id": f"s{s}-c{i}", "name": f"C{s}.{i}", "stream": s, "mode": "ok"} for s in range(1, 6) for i in range(6)]
    project.clients(rows)
    real_limits.base(project.base_id, rate_limit=5)
    real_limits.bases[project.base_id].calls.clear()
    places = slots([JobType.LEAD_SCORING], 5)  # as fnf deploy gives them
    procs = [
        project.popen(
            "run",
            "-t",
            "lead_scoring",
            "-s",
            str(s),
            "--json",
            env={"AIRTABLE_SLOT": places[(JobType.LEAD_SCORING, s)]},
        )
        for s in range(1, 6)
    ]
    results = [(p.communicate(timeout=400)[0], p.returncode) for p in procs]
    assert [code for _, code in results] == [0] * 5, results
    assert [json.loads(out)["completed"] for out, _ in results] == [6] * 5
    assert real_limits.stats.rate_limited == 0, "the runs at their shares never breach the base's limit"
    assert Counter(project.ledger()) == Counter(str(r["id"]) for r in rows)
