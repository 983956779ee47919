"""The commands: the one layer the CLI, ``fnf serve`` and programs embedding fnf call.

Each command is one function: it validates its input before it opens the store (so a usage error
changes nothing), opens the store one way (``opening.store_for``), does one thing, and returns
plain data for the caller to print. Errors are ``FnfError``s; the CLI turns them into exit codes.
"""

from fnf.commands.checks import Check, doctor, health, schema_apply, schema_check, send_test_alerts
from fnf.commands.clients import (
    assign_streams,
    import_clients,
    list_clients,
    release_clients,
    remove_clients,
    stream_loads,
)
from fnf.commands.inputs import check_run_type, check_stream, parse_age
from fnf.commands.opening import airtable_store, store_for
from fnf.commands.reading import history, status, status_json, status_parts
from fnf.commands.repairs import prune_history, reset
from fnf.commands.running import check_handlers, plan, predict, run

__all__ = [
    "Check",
    "airtable_store",
    "assign_streams",
    "check_handlers",
    "check_run_type",
    "check_stream",
    "doctor",
    "health",
    "history",
    "import_clients",
    "list_clients",
    "parse_age",
    "plan",
    "predict",
    "prune_history",
    "release_clients",
    "remove_clients",
    "reset",
    "run",
    "schema_apply",
    "schema_check",
    "send_test_alerts",
    "status",
    "status_json",
    "status_parts",
    "store_for",
    "stream_loads",
]
