from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fnf.models import RUN_TYPES, JobType, Status, human_duration, job_id_for, job_types_of


def test_job_ids_follow_the_operators_format() -> None:
    at = datetime(2025, 9, 20, 14, 30, 22, tzinfo=UTC)
    assert job_id_for(JobType.LEAD_SCORING, 1, at) == "job_lead_stream1_20250920_143022"
    assert job_id_for(JobType.POST_HARVESTING, 2, at) == "job_harvest_stream2_20250920_143022"
    assert job_id_for(JobType.POST_SCORING, 3, at) == "job_postscore_stream3_20250920_143022"


def test_statuses_are_exactly_the_documented_names() -> None:
    assert [s.value for s in Status] == [
        "STARTED",
        "RUNNING",
        "COMPLETED",
        "CLIENT_TIMEOUT_KILLED",
        "JOB_TIMEOUT_KILLED",
        "FAILED",
    ]


def test_all_runs_every_type_in_order() -> None:
    assert RUN_TYPES == ("lead_scoring", "post_harvesting", "post_scoring", "all")
    assert job_types_of("all") == (JobType.LEAD_SCORING, JobType.POST_HARVESTING, JobType.POST_SCORING)
    assert job_types_of("post_scoring") == (JobType.POST_SCORING,)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45 seconds"),
        (1, "1 second"),
        (0.25, "0.25 seconds"),
        (0.004, "0 seconds"),
        (12.34, "12.3 seconds"),
        (150, "2.5 minutes"),
        (60, "1 minute"),
        (5400, "1.5 hours"),
        (None, ""),
    ],
)
def test_last_run_time_reads_like_the_operators_field(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text
