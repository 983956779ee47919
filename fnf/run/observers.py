"""Who hears what happens in a run: alerts, pings, the progress bar. Observers are advisory: each
call is isolated, so one that fails never stops the run or delays a deadline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from fnf.models import Client, JobState, JobType, Lease, Outcome, RunRecord

log = logging.getLogger("fnf.run")


class RunObserver(Protocol):
    """Told what happens in a run (alerts and pings); may annotate a client's recorded state."""

    def run_started(self, record: RunRecord) -> None: ...
    def took_over(self, lease: Lease) -> None: ...
    def sweep_planned(self, total: int) -> None: ...
    def client_started(self, client: Client, job_type: JobType, allowed_seconds: float) -> None: ...
    def client_ended(self, client: Client, job_type: JobType, state: JobState, newly_quarantined: bool) -> JobState: ...
    def run_ending(self, outcome: Outcome, message: str, stopped_at: str | None, remaining: int) -> str | None: ...
    def run_ended(self, outcome: Outcome, summary: str, exit_code: int) -> None: ...


class SilentObserver:
    def run_started(self, record: RunRecord) -> None:
        pass

    def took_over(self, lease: Lease) -> None:
        pass

    def sweep_planned(self, total: int) -> None:
        pass

    def client_started(self, client: Client, job_type: JobType, allowed_seconds: float) -> None:
        pass

    def client_ended(self, client: Client, job_type: JobType, state: JobState, newly_quarantined: bool) -> JobState:
        return state

    def run_ending(self, outcome: Outcome, message: str, stopped_at: str | None, remaining: int) -> str | None:
        return None

    def run_ended(self, outcome: Outcome, summary: str, exit_code: int) -> None:
        pass


class Observers(SilentObserver):
    """Several observers as one (alerts and a progress bar); a client's state passes through each.

    Each call is isolated: an observer that raises is logged and skipped, so a broken alert
    channel or progress bar never stops a run, loses a client's state or delays a deadline.
    """

    def __init__(self, *observers: RunObserver) -> None:
        self.observers = observers

    def _each(self, call: Callable[[RunObserver], object]) -> list[object]:
        results = []
        for observer in self.observers:
            try:
                results.append(call(observer))
            except Exception as exc:  # an observer is advisory: the run goes on without it
                log.warning(
                    "%s failed and was skipped: %s",
                    type(observer).__name__,
                    exc,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                results.append(None)
        return results

    def run_started(self, record: RunRecord) -> None:
        self._each(lambda o: o.run_started(record))

    def took_over(self, lease: Lease) -> None:
        self._each(lambda o: o.took_over(lease))

    def sweep_planned(self, total: int) -> None:
        self._each(lambda o: o.sweep_planned(total))

    def client_started(self, client: Client, job_type: JobType, allowed_seconds: float) -> None:
        self._each(lambda o: o.client_started(client, job_type, allowed_seconds))

    def client_ended(self, client: Client, job_type: JobType, state: JobState, newly_quarantined: bool) -> JobState:
        for observer in self.observers:
            try:
                state = observer.client_ended(client, job_type, state, newly_quarantined)
            except Exception as exc:
                log.warning("%s failed and was skipped: %s", type(observer).__name__, exc)
        return state

    def run_ending(self, outcome: Outcome, message: str, stopped_at: str | None, remaining: int) -> str | None:
        notes = self._each(lambda o: o.run_ending(outcome, message, stopped_at, remaining))
        return next((n for n in notes if isinstance(n, str) and n), None)

    def run_ended(self, outcome: Outcome, summary: str, exit_code: int) -> None:
        self._each(lambda o: o.run_ended(outcome, summary, exit_code))
