"""Who goes next: the sweep's clients in order, and the clients waiting to retry.

A client whose attempt failed for a reason that may pass waits off its slot, so that other
clients go on meanwhile; once its wait is over, its retry is the next thing a free slot does.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable

from fnf.run.attempt import Slot
from fnf.run.sweep import Task


class Lineup:
    def __init__(self, tasks: Iterable[Task]) -> None:
        self.queue = deque(tasks)
        self._ready: deque[Slot] = deque()
        self._waiting: list[tuple[float, int, Slot]] = []
        self._order = itertools.count()

    def has_next(self) -> bool:
        return bool(self._ready or self.queue)

    def peek(self) -> Slot:
        """The slot a free place in flight takes next (a retry that is due, else the next client)."""
        if self._ready:
            return self._ready[0]
        task = self.queue[0]
        return Slot(next(self._order), task, list(task.job_types))

    def take(self, slot: Slot) -> None:
        """``slot`` (from ``peek``) leaves the line."""
        if self._ready and self._ready[0] is slot:
            self._ready.popleft()
        else:
            self.queue.popleft()

    def wait(self, slot: Slot, due: float) -> None:
        heapq.heappush(self._waiting, (due, slot.order, slot))

    def release(self, now: float) -> None:
        """Waits that are over join the front of the line, the earliest first."""
        while self._waiting and self._waiting[0][0] <= now:
            self._ready.append(heapq.heappop(self._waiting)[2])

    def next_due(self) -> float | None:
        return self._waiting[0][0] if self._waiting else None

    def waiting(self) -> list[Slot]:
        """Every slot still waiting or ready to retry, leaving the line (the run is stopping)."""
        slots = list(self._ready) + [slot for _, _, slot in sorted(self._waiting)]
        self._ready.clear()
        self._waiting.clear()
        return slots

    def remaining(self) -> int:
        return len(self.queue) + len(self._ready) + len(self._waiting)
