"""A stream's full states, each read from the store the first time a run asks for it."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, MutableMapping

from fnf.models import JobState


class StatesOnDemand(MutableMapping[str, JobState]):
    """The full states of the clients in ``present``, read with ``load`` when first asked for.

    A run reads the full state only of the clients it starts (their history, alert and
    quarantine marks), a few hundred per run; building all of them up front was most of the
    start of a run on a 100,000-client stream. What the run writes is kept here, as a dict would.
    """

    def __init__(self, load: Callable[[str], JobState | None], present: Container[str]) -> None:
        self._load = load
        self._present = present
        self._states: dict[str, JobState] = {}

    def __getitem__(self, client_id: str) -> JobState:
        state = self._states.get(client_id)
        if state is None:
            loaded = self._load(client_id) if client_id in self._present else None
            if loaded is None:
                raise KeyError(client_id)
            state = self._states[client_id] = loaded
        return state

    def __setitem__(self, client_id: str, state: JobState) -> None:
        self._states[client_id] = state

    def __delitem__(self, client_id: str) -> None:
        del self._states[client_id]

    def __contains__(self, client_id: object) -> bool:
        """Whether the state was read or written here (asking does not read it)."""
        return client_id in self._states

    def __iter__(self) -> Iterator[str]:
        """The states read or written so far (iterating does not read the others)."""
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)
