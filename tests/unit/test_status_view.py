"""The status tables stay readable (and fast) on big stores: bounded rows, problems first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fnf import status as status_doc
from fnf.cli import render
from fnf.models import Client, JobState, JobType, StateUpdate, Status
from fnf.testing import MemoryStore

NOW = datetime(2025, 9, 20, 14, 30, tzinfo=UTC)


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    store.import_clients([Client(f"c{i:02d}", f"Client {i}", 1) for i in range(60)])
    store.put_states(
        [
            StateUpdate("c58", JobType.LEAD_SCORING, JobState(Status.FAILED, "j", "r", "s", NOW, message="boom")),
            StateUpdate("c59", JobType.LEAD_SCORING, JobState(Status.RUNNING, "j", "r", "s", NOW)),
        ]
    )
    return store


def shown(capsys: pytest.CaptureFixture[str], doc: dict[str, object], limit: int) -> str:
    render.print_status(doc, limit=limit)
    return capsys.readouterr().out


def test_a_long_stream_shows_the_limit_with_live_and_failed_clients_kept(
    store: MemoryStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    doc = status_doc.build(store, NOW, job_types=(JobType.LEAD_SCORING,))
    out = shown(capsys, doc, 50)
    rows = [f"c{i:02d}" for i in range(60) if f"│ c{i:02d} " in out]
    assert len(rows) == 50
    assert "c58" in rows and "c59" in rows, "the failed and the running client are never cut"
    assert rows == sorted(rows), "shown in stream order"
    assert "10 more not shown" in out and "--limit 0" in out


def test_limit_zero_shows_every_client_and_a_short_stream_is_never_cut(
    store: MemoryStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    doc = status_doc.build(store, NOW, job_types=(JobType.LEAD_SCORING,))
    out = shown(capsys, doc, 0)
    assert all(f"│ c{i:02d} " in out for i in range(60)) and "not shown" not in out
    out = shown(capsys, doc, 60)
    assert "not shown" not in out


def test_the_overview_document_has_the_streams_but_no_client_rows(store: MemoryStore) -> None:
    overview = status_doc.build(store, NOW, clients=False)
    full = status_doc.build(store, NOW)
    assert "clients" not in overview and len(full["clients"]) == 60
    assert overview["streams"] == full["streams"]
    lead = next(row for row in overview["streams"] if row["type"] == "lead_scoring")
    assert lead["clients"] == 60 and lead["remaining"] == 60, "no sweep is open: the next one has every client"
    assert (lead["failed"], lead["done"], lead["last_sweep_finished"]) == (1, 1, True), "the last sweep's result stays"


@pytest.mark.parametrize("clients", [True, False])
def test_the_streamed_json_is_exactly_the_document(store: MemoryStore, clients: bool) -> None:
    import io
    import json

    full = status_doc.build(store, NOW, clients=clients)
    document, entries = status_doc.build_lazily(store, NOW)
    out = io.StringIO()
    status_doc.write_json(document, entries if clients else None, out)
    assert out.getvalue() == json.dumps(full, indent=2) + "\n"


def test_the_streamed_json_of_a_store_without_clients_is_valid() -> None:
    import io
    import json

    empty = MemoryStore()
    document, entries = status_doc.build_lazily(empty, NOW)
    out = io.StringIO()
    status_doc.write_json(document, entries, out)
    assert json.loads(out.getvalue()) == {**document, "clients": []}
    assert out.getvalue() == json.dumps({**{k: v for k, v in document.items() if k != "runs"}, "clients": [],
                                         "runs": document["runs"]}, indent=2) + "\n"  # fmt: skip


def test_each_table_keeps_its_own_problem_clients_when_rows_stream_past(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    big = MemoryStore()
    big.import_clients([Client(f"c{i:03d}", f"C{i}", 1) for i in range(200)])
    failed = JobState(Status.FAILED, "j", "r", "s", NOW, message="boom")
    big.put_states([StateUpdate(f"c{i}", JobType.LEAD_SCORING, failed) for i in range(150, 155)])
    document, entries = status_doc.build_lazily(big, NOW, job_types=(JobType.LEAD_SCORING, JobType.POST_SCORING))
    document["clients"] = entries  # a generator, as fnf status passes it
    out = shown(capsys, document, 10)
    lead, post = out.split("Stream 1 · lead_scoring")[1].split("Stream 1 · post_scoring")

    def ids(text: str) -> list[str]:
        return [f"c{i:03d}" for i in range(200) if f"│ c{i:03d} " in text]

    assert ids(lead) == [f"c{i:03d}" for i in (0, 1, 2, 3, 4, 150, 151, 152, 153, 154)]
    assert ids(post) == [f"c{i:03d}" for i in range(10)]
    assert "200 client(s)" in lead and "190 more not shown" in lead and "190 more not shown" in post
