"""The Airtable emulator enforces Airtable's limits, so the store's tests mean something."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fnf.testing.airtable_emulator import Emulator

TOKEN = "tok"
BASE = "appEMULATOR0001"


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[Emulator]:
    with Emulator(TOKEN, penalty=30.0, clock=clock) as running:
        base = running.base(BASE)
        base.add_table(
            "Clients",
            [
                {"name": "Client ID", "type": "singleLineText"},
                {"name": "Stream", "type": "number", "options": {"precision": 0}},
                {"name": "Status", "type": "singleSelect", "options": {"choices": [{"name": "COMPLETED"}]}},
                {"name": "When", "type": "dateTime", "options": {"timeZone": "utc"}},
            ],
        )
        yield running


def call(emu: Emulator, method: str, path: str, clock: ManualClock | None = None, **kwargs: Any) -> requests.Response:
    if clock is not None:
        clock.now += 1.0  # a fresh rate-limit window for each call unless the test says otherwise
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return requests.request(method, f"{emu.url}/v0/{BASE}/{path}", headers=headers, timeout=5, **kwargs)


def create(emu: Emulator, clock: ManualClock, *records: dict[str, Any]) -> requests.Response:
    return call(emu, "POST", "Clients", clock, json={"records": [{"fields": f} for f in records]})


def test_ten_records_per_write_and_an_eleventh_is_refused(emu: Emulator, clock: ManualClock) -> None:
    ok = create(emu, clock, *({"Client ID": f"c{i}"} for i in range(10)))
    assert ok.status_code == 200 and len(ok.json()["records"]) == 10
    refused = create(emu, clock, *({"Client ID": f"d{i}"} for i in range(11)))
    assert refused.status_code == 422
    assert refused.json()["error"]["type"] == "INVALID_RECORDS"
    assert len(emu.records(BASE, "Clients")) == 10


def test_unknown_field_and_missing_select_option_are_422(emu: Emulator, clock: ManualClock) -> None:
    unknown = create(emu, clock, {"Client ID": "a", "Nope": 1})
    assert (unknown.status_code, unknown.json()["error"]["type"]) == (422, "UNKNOWN_FIELD_NAME")
    option = create(emu, clock, {"Client ID": "a", "Status": "FAILED"})
    assert (option.status_code, option.json()["error"]["type"]) == (422, "INVALID_MULTIPLE_CHOICE_OPTIONS")
    wrong = create(emu, clock, {"Stream": "two"})
    assert (wrong.status_code, wrong.json()["error"]["type"]) == (422, "INVALID_VALUE_FOR_COLUMN")
    assert emu.records(BASE, "Clients") == []
    typecast = call(
        emu, "POST", "Clients", clock, json={"records": [{"fields": {"Status": "FAILED"}}], "typecast": True}
    )
    assert typecast.status_code == 200
    tables = call(emu, "GET", "", clock).status_code  # the base URL itself is not an endpoint
    assert tables == 404


def test_pages_of_at_most_100_with_offset_filter_sort_and_fields(emu: Emulator, clock: ManualClock) -> None:
    for start in range(0, 250, 10):
        create(emu, clock, *({"Client ID": f"c{i:03d}", "Stream": i % 2 + 1} for i in range(start, start + 10)))
    assert call(emu, "GET", "Clients", clock, params={"pageSize": 101}).status_code == 422
    seen, offset, pages = [], None, 0
    while True:
        params: dict[str, Any] = {
            "filterByFormula": "{Stream}=2",
            "sort[0][field]": "Client ID",
            "sort[0][direction]": "desc",
            "fields[]": ["Client ID"],
        }
        if offset:
            params["offset"] = offset
        page = call(emu, "GET", "Clients", clock, params=params).json()
        pages += 1
        seen.extend(page["records"])
        offset = page.get("offset")
        if not offset:
            break
    assert pages == 2 and len(seen) == 125
    assert [r["fields"]["Client ID"] for r in seen[:2]] == ["c249", "c247"]
    assert all(set(r["fields"]) == {"Client ID"} for r in seen)


def test_empty_fields_are_omitted_and_dates_normalised(emu: Emulator, clock: ManualClock) -> None:
    record = create(emu, clock, {"Client ID": "a", "Status": None, "When": "2025-09-20T14:30:22+02:00"}).json()
    fields = record["records"][0]["fields"]
    assert fields == {"Client ID": "a", "When": "2025-09-20T12:30:22.000Z"}


def test_upsert_creates_then_updates_without_duplicates(emu: Emulator, clock: ManualClock) -> None:
    body = {"performUpsert": {"fieldsToMergeOn": ["Client ID"]}, "records": [{"fields": {"Client ID": "a"}}]}
    first = call(emu, "PATCH", "Clients", clock, json=body).json()
    again = call(emu, "PATCH", "Clients", clock, json=body).json()
    assert first["createdRecords"] and again["updatedRecords"] == first["createdRecords"]
    assert len(emu.records(BASE, "Clients")) == 1


def test_five_requests_a_second_then_429_and_a_30_second_penalty(emu: Emulator, clock: ManualClock) -> None:
    codes = [call(emu, "GET", "Clients").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    clock.now += 10
    assert call(emu, "GET", "Clients").status_code == 429  # still inside the penalty
    clock.now += 21
    assert call(emu, "GET", "Clients").status_code == 200
    assert emu.stats.rate_limited == 2


def test_authentication_and_unknown_tables(emu: Emulator, clock: ManualClock) -> None:
    bare = requests.get(f"{emu.url}/v0/{BASE}/Clients", timeout=5)
    assert bare.status_code == 401
    wrong = requests.get(f"{emu.url}/v0/{BASE}/Clients", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401
    assert call(emu, "GET", "Nope", clock).status_code == 404


def test_fault_switches(emu: Emulator, clock: ManualClock) -> None:
    emu.set_faults(throttle_next=2)
    assert [call(emu, "GET", "Clients", clock).status_code for _ in range(3)] == [429, 429, 200]
    emu.set_faults(down=True)
    assert call(emu, "GET", "Clients", clock).status_code == 503
    emu.set_faults(down=False, drop_rate=1.0, seed=1)
    with pytest.raises(requests.ConnectionError):
        call(emu, "GET", "Clients", clock)
    emu.set_faults(drop_rate=0.0, error_rate=1.0)
    assert call(emu, "GET", "Clients", clock).status_code == 502


def test_metadata_api_lists_and_creates_tables_and_fields(emu: Emulator, clock: ManualClock) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{emu.url}/v0/meta/bases/{BASE}/tables"
    clock.now += 1
    made = requests.post(
        url, headers=headers, json={"name": "Runs", "fields": [{"name": "Run ID", "type": "singleLineText"}]}, timeout=5
    )
    assert made.status_code == 200
    clock.now += 1
    field = requests.post(
        f"{url}/{made.json()['id']}/fields", headers=headers, json={"name": "N", "type": "number"}, timeout=5
    )
    assert field.status_code == 422  # a number field needs its precision
    clock.now += 1
    duplicate = requests.post(
        url, headers=headers, json={"name": "Runs", "fields": [{"name": "x", "type": "url"}]}, timeout=5
    )
    assert duplicate.status_code == 422
    clock.now += 1
    listed = requests.get(url, headers=headers, timeout=5).json()["tables"]
    assert [t["name"] for t in listed] == ["Clients", "Runs"]
    assert listed[0]["fields"][2]["options"]["choices"][0]["name"] == "COMPLETED"


def test_list_records_by_post_takes_the_same_options(emu: Emulator, clock: ManualClock) -> None:
    create(emu, clock, *({"Client ID": f"c{i}", "Stream": 1 + i % 2} for i in range(6)))
    body = {"filterByFormula": "{Stream}=1", "fields": ["Client ID"], "sort": [{"field": "Client ID"}], "pageSize": 2}
    page = call(emu, "POST", "Clients/listRecords", clock, json=body).json()
    assert [r["fields"] for r in page["records"]] == [{"Client ID": "c0"}, {"Client ID": "c2"}]
    rest = call(emu, "POST", "Clients/listRecords", clock, json={**body, "offset": page["offset"]}).json()
    assert [r["fields"]["Client ID"] for r in rest["records"]] == ["c4"] and "offset" not in rest


def test_latency_switch_delays_answers(emu: Emulator, clock: ManualClock) -> None:
    import time

    emu.set_faults(latency=0.3)
    started = time.monotonic()
    assert call(emu, "GET", "Clients", clock).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_listing_offset_can_be_asked_again_until_it_expires(emu: Emulator, clock: ManualClock) -> None:
    for start in range(0, 150, 10):
        create(emu, clock, *({"Client ID": f"c{i:03d}"} for i in range(start, start + 10)))
    first = call(emu, "GET", "Clients", clock, params={"pageSize": 100}).json()
    again = [call(emu, "GET", "Clients", clock, params={"offset": first["offset"]}) for _ in range(2)]
    assert [len(r.json()["records"]) for r in again] == [50, 50], "a retried page is answered again"
    clock.now += 301  # Airtable's iterators time out after a few minutes
    expired = call(emu, "GET", "Clients", clock, params={"offset": first["offset"]})
    assert expired.status_code == 422 and expired.json()["error"]["type"] == "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"
