"""Round-robin and balanced stream assignment."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fnf.models import Client
from fnf.streams import balanced, loads, round_robin


def clients(n: int) -> list[Client]:
    return [Client(f"c{i:02d}", f"C{i}", None) for i in range(1, n + 1)]


def test_round_robin_on_ten_clients_and_three_streams() -> None:
    plan = round_robin(clients(10), 3)
    by_stream = {s: [cid for cid, n in plan.items() if n == s] for s in (1, 2, 3)}
    assert by_stream == {1: ["c01", "c04", "c07", "c10"], 2: ["c02", "c05", "c08"], 3: ["c03", "c06", "c09"]}


@given(st.lists(st.floats(min_value=0.1, max_value=5000), min_size=1, max_size=60), st.integers(1, 6))
def test_balanced_streams_differ_by_less_than_the_largest_client(durations: list[float], streams: int) -> None:
    members = clients(len(durations))
    work = {c.id: d for c, d in zip(members, durations, strict=True)}
    plan = balanced(members, work, streams)
    totals = [s.seconds for s in loads(members, work, plan)]
    if len(totals) == streams:
        assert max(totals) - min(totals) <= max(durations) + 1e-6


def test_unmeasured_clients_count_as_the_median() -> None:
    members = clients(4)
    plan = balanced(members, {"c01": 10.0, "c02": 10.0}, 2)
    assert sorted(plan.values()) == [1, 1, 2, 2]
