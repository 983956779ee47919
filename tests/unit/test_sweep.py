from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from fnf.models import Client, JobState, JobType, Status
from fnf.run.sweep import pending, select

AT = datetime(2025, 9, 20, tzinfo=UTC)
LEAD = JobType.LEAD_SCORING


def state(status: Status, sweep: str = "s1", run: str = "r1") -> JobState:
    return JobState(status, "job_x", run, sweep, AT)


def clients(n: int) -> list[Client]:
    return [Client(f"c{i}", f"Client {i}", 1) for i in range(n)]


def ids(tasks: list) -> list[str]:  # type: ignore[type-arg]
    return [t.client.id for t in tasks]


def test_untouched_clients_in_stable_order() -> None:
    assert ids(select(clients(3), {}, {LEAD: "s1"})) == ["c0", "c1", "c2"]


def test_cut_short_clients_come_first_and_done_ones_are_skipped() -> None:
    states = {
        LEAD: {
            "c0": state(Status.COMPLETED),
            "c1": state(Status.FAILED),
            "c2": state(Status.CLIENT_TIMEOUT_KILLED),
            "c3": state(Status.JOB_TIMEOUT_KILLED),
            "c5": state(Status.RUNNING),
        }
    }
    tasks = select(clients(6), states, {LEAD: "s1"})
    assert ids(tasks) == ["c3", "c5", "c4"]
    assert [t.resumed for t in tasks] == [True, True, False]


def test_retry_failed_includes_failures_and_client_timeouts() -> None:
    states = {
        LEAD: {"c0": state(Status.FAILED), "c1": state(Status.CLIENT_TIMEOUT_KILLED), "c2": state(Status.COMPLETED)}
    }
    assert ids(select(clients(3), states, {LEAD: "s1"}, retry_failed=True)) == ["c0", "c1"]


def test_states_from_an_older_sweep_count_as_untouched() -> None:
    states = {LEAD: {"c0": state(Status.COMPLETED, sweep="old"), "c1": state(Status.JOB_TIMEOUT_KILLED, "old")}}
    tasks = select(clients(2), states, {LEAD: "s1"})
    assert ids(tasks) == ["c0", "c1"]
    assert not any(t.resumed for t in tasks)


def test_a_client_being_run_by_a_live_run_elsewhere_is_left_alone() -> None:
    states = {LEAD: {"c0": state(Status.RUNNING, run="other")}}
    assert ids(select(clients(1), states, {LEAD: "s1"}, live_runs={"other"})) == []
    assert ids(select(clients(1), states, {LEAD: "s1"}, live_runs=set())) == ["c0"]


def test_all_lists_only_the_pending_types_per_client() -> None:
    sweeps = {t: "s1" for t in JobType}
    states = {LEAD: {"c0": state(Status.COMPLETED)}, JobType.POST_SCORING: {"c1": state(Status.JOB_TIMEOUT_KILLED)}}
    tasks = select(clients(2), states, sweeps)
    assert ids(tasks) == ["c1", "c0"]
    assert tasks[0].job_types == tuple(JobType)
    assert tasks[1].job_types == (JobType.POST_HARVESTING, JobType.POST_SCORING)


STATUSES = st.sampled_from([None, *Status])


@given(
    st.lists(st.tuples(STATUSES, st.booleans()), max_size=30),
    st.booleans(),
)
def test_selection_matches_the_specification(rows: list[tuple[Status | None, bool]], retry: bool) -> None:
    members = clients(len(rows))
    states: dict[str, JobState] = {}
    for client, (status, same_sweep) in zip(members, rows, strict=True):
        if status is not None:
            states[client.id] = state(status, sweep="s1" if same_sweep else "s0")
    tasks = select(members, {LEAD: states}, {LEAD: "s1"}, retry_failed=retry)
    chosen = ids(tasks)
    assert len(chosen) == len(set(chosen)), "nobody twice"
    for client in members:
        s = states.get(client.id)
        in_sweep = s is not None and s.sweep_id == "s1"
        done = in_sweep and s.status in (Status.COMPLETED, Status.FAILED, Status.CLIENT_TIMEOUT_KILLED)
        if retry and in_sweep and s.status in (Status.FAILED, Status.CLIENT_TIMEOUT_KILLED):
            done = False
        assert (client.id in chosen) == (not done), client.id
    resumed = [t.client.id for t in tasks if t.resumed]
    assert chosen[: len(resumed)] == resumed, "resumed clients come first"
    order = [c.id for c in members]
    rest = chosen[len(resumed) :]
    assert resumed == sorted(resumed, key=order.index)
    assert rest == sorted(rest, key=order.index)
    for cid in resumed:
        assert states[cid].sweep_id == "s1"
        assert states[cid].status in (Status.JOB_TIMEOUT_KILLED, Status.STARTED, Status.RUNNING)


def test_pending_kinds() -> None:
    assert pending(None, "s1") == "new"
    assert pending(state(Status.COMPLETED), "s1") is None
    assert pending(state(Status.STARTED), "s1") == "resume"
