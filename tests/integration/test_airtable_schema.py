"""fnf schema check / apply against the emulator's metadata API."""

from __future__ import annotations

from airtable_helpers import airtable_settings, new_base

from fnf.errors import SchemaError
from fnf.models import Client
from fnf.store.airtable import AirtableStore
from fnf.testing.airtable_emulator import Emulator


def fresh(emulator: Emulator, **changes: object) -> AirtableStore:
    return AirtableStore(airtable_settings(emulator, new_base(emulator, rate_limit=1000), **changes))


def test_apply_on_an_empty_base_then_check_is_clean_and_apply_again_does_nothing(emulator: Emulator) -> None:
    store = fresh(emulator)
    problems = store.schema_problems()
    assert {p.what for p in problems} == {"missing table"} and len(problems) == 3
    done = store.apply_schema()
    assert done == [
        "created table 'Clients' with 26 fields",
        "created table 'Job Runs' with 23 fields",
        "created table 'Sweeps' with 8 fields",
    ]
    assert store.schema_problems() == []
    assert store.apply_schema() == []
    store.verify()


def test_missing_fields_and_select_options_are_added_wrong_types_only_reported(emulator: Emulator) -> None:
    store = fresh(emulator)
    base = emulator.base(store.settings.base_id)
    base.add_table(
        "Clients",
        [
            {"name": "Client Name", "type": "singleLineText"},
            {"name": "Client ID", "type": "singleLineText"},
            {"name": "Processing Stream", "type": "singleLineText"},  # a stream kept as text
            {
                "name": "Lead Scoring Job Status",
                "type": "singleSelect",
                "options": {"choices": [{"name": "COMPLETED"}, {"name": "FAILED"}, {"name": "Paused"}]},
            },
        ],
    )
    problems = {(p.field, p.what) for p in store.schema_problems()}
    assert ("Processing Stream", "wrong type") in problems
    assert ("Lead Scoring Job Status", "missing options") in problems
    assert ("Leads Scored Last Run", "missing field") in problems
    done = store.apply_schema()
    assert any("added option(s) STARTED, RUNNING, CLIENT_TIMEOUT_KILLED, JOB_TIMEOUT_KILLED" in line for line in done)
    left = store.schema_problems()
    assert [(p.field, p.what, p.fixable) for p in left] == [("Processing Stream", "wrong type", False)]
    assert "never retypes" in str(left[0])
    assert base.table("Clients").field("Processing Stream").type == "singleLineText"  # type: ignore[union-attr]
    choices = [c["name"] for c in base.table("Clients").field("Lead Scoring Job Status").options["choices"]]  # type: ignore[union-attr]
    assert "Paused" in choices and "JOB_TIMEOUT_KILLED" in choices
    assert emulator.records(store.settings.base_id, "Clients") == [], "the temporary records are gone"


def test_a_base_lacking_a_field_is_refused_before_anything_is_written(emulator: Emulator) -> None:
    store = fresh(emulator)
    store.apply_schema()
    store.import_clients([Client("a", "A", 1)])
    emulator.base(store.settings.base_id).table("Clients").field("Lead Scoring Job ID").name = "Job ID (lead)"  # type: ignore[union-attr]
    try:
        store.verify()
    except SchemaError as exc:
        message = str(exc)
    else:
        raise AssertionError("verify accepted a base without 'Lead Scoring Job ID'")
    assert "'Lead Scoring Job ID'" in message and "fnf schema apply" in message
    assert "AIRTABLE_FIELD_LEAD_SCORING_JOB_ID" in message


def test_renamed_fields_are_used_everywhere(emulator: Emulator) -> None:
    renames = {"CLIENT_NAME": "Company", "LEAD_SCORING_JOB_STATUS": "Scoring status", "RUNS_HOST": "Machine"}
    store = fresh(emulator, field_names=renames)
    store.apply_schema()
    assert store.schema_problems() == []
    fields = {f.name for f in emulator.base(store.settings.base_id).table("Clients").fields}
    assert {"Company", "Scoring status"} <= fields and "Client Name" not in fields
    store.import_clients([Client("a", "Acme", 1)])
    assert emulator.records(store.settings.base_id, "Clients")[0]["fields"]["Company"] == "Acme"


def test_a_base_in_the_earlier_layout_is_moved_by_apply_and_resumes_where_it_was(emulator: Emulator) -> None:
    """Earlier versions kept eight bookkeeping fields per job type; apply copies them into the
    state cell, so sweeps, streaks and quarantine carry over."""
    from fnf.store.airtable import schema as sc

    store = fresh(emulator)
    base = emulator.base(store.settings.base_id)
    legacy = [spec.create_spec(spec.default) for t in sc.LEGACY_FIELDS for spec in sc.LEGACY_FIELDS[t].values()]
    wanted = [spec.create_spec(spec.default) for spec in sc.CLIENT_FIELDS if "fnf State" not in spec.default]
    base.add_table("Clients", wanted + legacy)
    store.apply_schema()  # the runs and sweeps tables, and the state fields
    table = base.table("Clients")
    with emulator.lock:
        record = emulator._add(  # a record as the earlier fnf left it
            table,
            {
                "Client ID": "a",
                "Client Name": "Acme",
                "Processing Stream": 1,
                "Lead Scoring Job Status": "CLIENT_TIMEOUT_KILLED",
                "Lead Scoring Last Run Date": "2026-11-30T10:00:00.000Z",
                "Lead Scoring Run ID": "run1",
                "Lead Scoring Sweep ID": "sweep1",
                "Lead Scoring Last Run Seconds": 600.5,
                "Lead Scoring Timeouts In A Row": 2,
                "Lead Scoring Recent Run Seconds": "12 600.5",
            },
        )
        table.fields = [f for f in table.fields if f.name != "Lead Scoring fnf State"]
        record.fields.pop("Lead Scoring fnf State", None)
    assert [p.field for p in store.schema_problems()] == ["Lead Scoring fnf State"]
    done = AirtableStore(store.settings).apply_schema()
    assert done[-1].startswith("moved the bookkeeping of 1 record(s) into 'Lead Scoring fnf State'"), done
    assert "'Lead Scoring Run ID'" in done[-1] and "delete them" in done[-1]
    state = AirtableStore(store.settings).job_states(sc.JobType.LEAD_SCORING, 1)["a"]
    assert (state.run_id, state.sweep_id, state.timeouts_in_row) == ("run1", "sweep1", 2)
    assert state.last_run_seconds == 600.5 and state.recent_seconds == (12.0, 600.5)
    assert AirtableStore(store.settings).apply_schema() == [], "the second apply moves nothing again"
