"""A 300-client stream at Airtable's real rate limit (slow: about a minute and a half)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from acceptance.conftest import make_project
from airtable_helpers import TOKEN

from fnf.testing.airtable_emulator import Emulator

pytestmark = pytest.mark.slow


@pytest.fixture
def real_limits() -> Iterator[Emulator]:
    with Emulator(TOKEN, penalty=30.0) as running:
        yield running


def test_300_clients_at_5_requests_a_second_without_a_single_429(tmp_path: Path, real_limits: Emulator) -> None:
    project = make_project(tmp_path, "airtable", real_limits, rate_limit=5)
    project.env.update(
        {
            "HEARTBEAT_INTERVAL_MINUTES": "1",
            "AIRTABLE_RATE_LIMIT_WAIT_SECONDS": "30",
            "AIRTABLE_RETRY_BUDGET_SECONDS": "300",
        }
    )
    clients = [f"c{i:03d}" for i in range(300)]
    project.clients([{"id": c, "name": f"Client {c}", "stream": 1, "mode": "ok"} for c in clients])
    before = real_limits.stats.requests
    result = project.fnf("run", "-t", "lead_scoring", "-s", "1", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "completed"
    requests = real_limits.stats.requests - before
    assert real_limits.stats.rate_limited == 0, "fnf's own pacing never breaches the limit"
    assert Counter(project.ledger()) == Counter(clients)
    assert requests / len(clients) <= 1.2, f"{requests} requests for {len(clients)} clients"
