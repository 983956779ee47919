"""Bringing an operator's base to what fnf writes: check it, add what it lacks, move old bookkeeping.

fnf never deletes or retypes a field, and applying twice does nothing the second time. The
base's metadata is read and written through pyairtable (``Base.schema``, ``Base.create_table``,
``Table.create_field``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fnf import formula as fx
from fnf.errors import SchemaError, StoreError
from fnf.models import JobState, JobType, Status, parse_seconds
from fnf.store.airtable import cells
from fnf.store.airtable import schema as sc
from fnf.store.airtable.http import PacedApi, every
from fnf.store.airtable.records import EPOCH

log = logging.getLogger("fnf.airtable")


def _no_access(exc: StoreError) -> bool:
    """The token may not read schemas (``schema.bases:read``): fnf works without the check."""
    return "403" in str(exc) or "401" in str(exc)


class BaseSetup:
    def __init__(self, api: PacedApi, base_id: str, layout: sc.Layout, absent: set[str]) -> None:
        self.api, self.base_id, self.layout = api, base_id, layout
        self._types: dict[str, str] | None = None
        self.absent = absent
        """Optional fields the base lacks (all of them until its schema is read): never written."""
        absent.update(layout.optional())

    def tables_meta(self) -> list[dict[str, Any]]:
        schema = self.api.base(self.base_id).schema(force=True)
        return [table.model_dump(mode="json", by_alias=True, exclude_none=True) for table in schema.tables]

    def verify(self) -> None:
        """Refuse to start against a base that lacks what fnf writes, before touching anything."""
        try:
            meta = self.tables_meta()
        except StoreError as exc:
            if not _no_access(exc):
                raise
            log.warning("cannot read the base's schema (%s); continuing without the check", exc)
            self._types = {}
            return
        self._remember_types(meta)
        problems = sc.compare(self.layout, meta)
        for problem in (p for p in problems if p.optional):
            log.warning("%s; fnf runs without it until then", problem)
        problems = [p for p in problems if not p.optional]
        if problems:
            listed = "; ".join(str(p) for p in problems[:8])
            more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
            raise SchemaError(
                f"the Airtable base {self.base_id} is not ready for fnf: {listed}{more}. "
                "Nothing was changed; run fnf schema check for the full list and fnf schema apply to fix it"
            )

    def problems(self) -> list[sc.Problem]:
        return sc.compare(self.layout, self.tables_meta())

    def field_types(self) -> Mapping[str, str]:
        """Field name -> type in the Clients table, read once (values are written in the form
        each field holds). Without schema access, fnf's own types are assumed."""
        if self._types is None:
            try:
                meta = self.tables_meta()
            except StoreError as exc:
                if not _no_access(exc):
                    raise
                meta = []
            self._remember_types(meta)
        return self._types or {}

    def _remember_types(self, meta: Sequence[Mapping[str, Any]]) -> None:
        table = next((t for t in meta if t.get("name") == self.layout.clients), None)
        fields = table.get("fields", []) if table is not None else []
        self._types = {str(f.get("name")): str(f.get("type")) for f in fields}
        present = {str(f.get("name")) for t in meta for f in t.get("fields", [])}
        self.absent.intersection_update(self.layout.optional() - present)

    def apply(self) -> list[str]:
        """Create the tables, fields and select options the base lacks; return what was done."""
        done: list[str] = []
        base = self.api.base(self.base_id)
        meta = {t["name"]: t for t in self.tables_meta()}
        for table in self.layout.tables():
            found = meta.get(table.name)
            if found is None:
                fields = [spec.create_spec(self.layout(spec)) for spec in table.fields]
                base.create_table(table.name, fields)
                done.append(f"created table {table.name!r} with {len(fields)} fields")
                continue
            done.extend(self._add_fields(table, found))
            done.extend(self._add_choices(table, found))
        self._types = None
        done.extend(self._move_legacy(meta.get(self.layout.clients)))
        return done

    def _add_fields(self, table: sc.TableSpec, meta: Mapping[str, Any]) -> list[str]:
        have = {f["name"] for f in meta.get("fields", [])}
        target = self.api.table(self.base_id, str(meta["id"]))
        done = []
        for spec in table.fields:
            name = self.layout(spec)
            if name in have:
                continue
            target.create_field(name, spec.type, options=dict(spec.options) or None)
            done.append(f"created field {name!r} ({spec.type}) in table {table.name!r}")
        return done

    def _add_choices(self, table: sc.TableSpec, meta: Mapping[str, Any]) -> list[str]:
        """Airtable's API cannot edit a select field's options; a write with ``typecast`` adds
        them. So each missing option is written once on a temporary record, deleted at once."""
        missing = sc.missing_choices(self.layout, table, meta)
        if not missing:
            return []
        target = self.api.table(self.base_id, table.name)
        records: list[Any] = [{name: option} for name, options in missing.items() for option in options]
        for start in range(0, len(records), 10):
            created = target.batch_create(records[start : start + 10], typecast=True)
            target.batch_delete([r["id"] for r in created])
        return [
            f"added option(s) {', '.join(options)} to field {name!r} in table {table.name!r}"
            for name, options in missing.items()
        ]

    def _move_legacy(self, meta: Mapping[str, Any] | None) -> list[str]:
        """Earlier versions kept fnf's bookkeeping in eight fields per job type; copy what they
        hold into the job type's state cell (10 records a request). The old fields stay, unused,
        for the operator to delete: fnf never deletes a field."""
        have = {f["name"] for f in (meta or {}).get("fields", [])}
        done: list[str] = []
        for job_type in JobType:
            legacy = {role: self.layout(spec) for role, spec in sc.LEGACY_FIELDS[job_type].items()}
            if legacy["run_id"] not in have:
                continue
            present = {role: name for role, name in legacy.items() if name in have}
            moved = self._move_type(job_type, present)
            if moved:
                unused = ", ".join(repr(n) for n in present.values())
                done.append(
                    f"moved the bookkeeping of {moved} record(s) into {self.layout.job(job_type, 'state')!r}; "
                    f"fnf no longer uses {unused} (delete them in Airtable when you like)"
                )
        return done

    def _move_type(self, job_type: JobType, present: Mapping[str, str]) -> int:
        target = self.layout.job(job_type, "state")
        clients: Any = self.api.table(self.base_id, self.layout.clients)
        formula = fx.all_of([fx.not_blank(present["run_id"]), fx.blank(target)])
        fields = [*present.values(), self.layout.job(job_type, "date")]
        records = every(clients, fields=fields, formula=formula)
        updates = [
            {"id": r["id"], "fields": {target: self._legacy_state(r["fields"], present, job_type)}} for r in records
        ]
        if updates:
            clients.batch_update(updates)
        return len(updates)

    def _legacy_state(self, values: Mapping[str, Any], names: Mapping[str, str], job_type: JobType) -> str:
        def get(role: str) -> Any:
            return values.get(names[role]) if role in names else None

        state = JobState(
            status=Status.COMPLETED,
            job_id="",
            run_id=str(get("run_id") or ""),
            sweep_id=str(get("sweep_id") or ""),
            last_run_date=cells.moment(values.get(self.layout.job(job_type, "date"))) or EPOCH,
            last_run_seconds=cells.number(get("seconds")),
            timeouts_in_row=int(cells.number(get("timeouts_in_row")) or 0),
            quarantined_at=cells.moment(get("quarantined_at")),
            alert_kind=get("alert_kind") or None,
            alert_at=cells.moment(get("alert_at")),
            recent_seconds=parse_seconds(get("recent_seconds")),
        )
        return cells.bookkeeping(state)
