"""Everything drawn for people: the only package that imports Rich.

Colours carry meaning (green done, yellow cut short, red failed or killed at its own limit)
and Rich drops them when NO_COLOR is set or stdout is not a terminal. ``status`` draws what
operators read, ``run`` what a run says; ``common`` what they share.
"""

from fnf.cli.render.common import OUTCOME_STYLE, STATUS_STYLE, console, echo
from fnf.cli.render.run import (
    REPORT_ROWS,
    RunProgressView,
    plan_document,
    print_clients,
    print_plan,
    print_report,
    progress_wanted,
    report_document,
)
from fnf.cli.render.status import print_history, print_runs, print_status

__all__ = [
    "OUTCOME_STYLE",
    "REPORT_ROWS",
    "STATUS_STYLE",
    "RunProgressView",
    "console",
    "echo",
    "plan_document",
    "print_clients",
    "print_history",
    "print_plan",
    "print_report",
    "print_runs",
    "print_status",
    "progress_wanted",
    "report_document",
]
