"""The planner's reads of a stream: one read to start, and the last read let go before the next."""

from __future__ import annotations

from collections.abc import Sequence

from fnf.models import Client, JobType
from fnf.run.plan import Planner
from fnf.run.request import RunRequest
from fnf.store.base import StreamRead
from fnf.testing import MemoryStore

LEAD = JobType.LEAD_SCORING


class CountingStore(MemoryStore):
    """Notes each stream read, and how many job types' states its planner still held when it came."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []
        self.planner: Planner | None = None

    def read_stream(self, stream: int, job_types: Sequence[JobType]) -> StreamRead:
        assert self.planner is not None
        self.reads.append(len(self.planner.known))
        return super().read_stream(stream, job_types)


def test_the_start_reads_the_stream_once_and_the_sweeps_end_lets_go_of_that_read_first() -> None:
    store = CountingStore()
    store.import_clients([Client("a", "A", 1), Client("b", "B", 1)])
    planner = store.planner = Planner(store)
    request = RunRequest("lead_scoring", 1)
    assert [c.id for c in planner.read(request, (LEAD,))] == ["a", "b"]
    first = planner.select(request, {LEAD: "s1"}, set())
    assert [t.client.id for t in first] == ["a", "b"]
    assert store.reads == [0], "the selection used the read the run started with"
    store.import_clients([Client("c", "C", 1)])
    again = planner.select(request, {LEAD: "s1"}, set())
    assert [t.client.id for t in again] == ["a", "b", "c"], "a client that joined is taken in"
    assert store.reads == [0, 0], "the earlier read's states were let go before the stream was read again"
