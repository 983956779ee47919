"""Client-side pacing and the Airtable settings, without a network."""

from __future__ import annotations

import itertools
import random

import pytest

from fnf.config import load_settings
from fnf.errors import ConfigError
from fnf.store.airtable.http import Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_spaced_so_no_second_holds_more_than_the_rate() -> None:
    clock = Clock()
    pacer = Pacer(5.0, clock=clock)
    starts = []
    for _ in range(20):
        clock.now += pacer.slot()  # the caller waits for its slot
        starts.append(clock.now)
    for index, start in enumerate(starts):
        in_window = [s for s in starts if start - 1.0 < s <= start]
        assert len(in_window) <= 5, (index, in_window)
    assert starts[-1] == pytest.approx(19 * 0.24)


@pytest.mark.parametrize("seed", range(20))
def test_five_processes_at_their_share_never_put_six_arrivals_in_a_rolling_second(seed: int) -> None:
    """Five runs of one base, each paced at 1 request/s as the share rule says, each request
    delayed on its way by 0 to 150 ms: the server never sees more than 5 in any rolling second."""
    rng = random.Random(seed)
    arrivals: list[float] = []
    for _ in range(5):
        clock = Clock()
        clock.now = rng.uniform(0, 1)
        pacer = Pacer(1.0, clock=clock)
        for _ in range(40):
            clock.now += pacer.slot() + rng.uniform(0.0, 0.05)  # the caller's own work between requests
            arrivals.append(clock.now + rng.uniform(0.0, 0.15))
    arrivals.sort()
    busiest = max(sum(1 for a in arrivals if start <= a < start + 1.0) for start in arrivals)
    assert busiest <= 5


def busiest_second(arrivals: list[float]) -> int:
    arrivals = sorted(arrivals)
    return max(sum(1 for a in arrivals if start <= a < start + 1.0) for start in arrivals)


@pytest.mark.parametrize("seed", range(10))
def test_nine_runs_in_their_slots_never_put_six_arrivals_in_a_rolling_second(seed: int) -> None:
    """3 types x 3 streams may all run at once: more than five runs cannot share by rate, but in
    their slots they hold, with hosts' clocks 40 ms apart and up to 150 ms of network jitter."""
    rng = random.Random(seed)
    arrivals: list[float] = []
    for index in range(1, 10):
        mono = Clock()
        mono.now = rng.uniform(0, 5)
        skew = rng.uniform(-0.02, 0.02)
        pacer = Pacer(5.0, slot=(index, 9), clock=mono, wall=lambda m=mono, k=skew: 1000.0 + m.now + k)
        starts = []
        for _ in range(25):
            mono.now += pacer.slot()
            starts.append(mono.now)
            arrivals.append(mono.now + rng.uniform(0.0, 0.15))
            mono.now += rng.uniform(0.0, 0.05)  # the caller's own work before its next request
        assert all(b - a >= 2.25 - 1e-9 for a, b in itertools.pairwise(starts)), "one start per cycle"
    assert busiest_second(arrivals) <= 5


def test_nine_runs_at_fractional_shares_do_breach_which_is_why_slots_exist() -> None:
    rng = random.Random(1)
    worst = 0
    for _ in range(20):
        arrivals: list[float] = []
        for _ in range(9):
            clock = Clock()
            clock.now = rng.uniform(0, 3)
            pacer = Pacer(5 / 9, clock=clock)
            for _ in range(25):
                clock.now += pacer.slot() + rng.uniform(0.0, 0.05)
                arrivals.append(clock.now + rng.uniform(0.0, 0.15))
        worst = max(worst, busiest_second(arrivals))
    assert worst > 5


def test_a_429_halves_the_pace_and_success_restores_it_gradually() -> None:
    pacer = Pacer(5.0, clock=Clock())
    pacer.slow_down()
    assert pacer.interval == pytest.approx(0.48)
    pacer.slow_down()
    assert pacer.interval == pytest.approx(0.96)
    pacer.speed_up()
    assert pacer.interval == pytest.approx(0.768)
    for _ in range(15):
        pacer.speed_up()
    assert pacer.interval == pytest.approx(0.24)
    for _ in range(10):
        pacer.slow_down()
    assert pacer.interval == Pacer.SLOWEST
    shared = Pacer(0.5, clock=Clock())
    for _ in range(10):
        shared.slow_down()
    assert shared.interval == pytest.approx(4 * 2.4), "never faster than its own share when slowed down"


BASE = {"FNF_STORE": "airtable", "AIRTABLE_API_KEY": "pat.secret-value", "AIRTABLE_BASE_ID": "appABCDEF12345678"}


def test_airtable_settings_defaults_and_renames() -> None:
    settings = load_settings(environ={**BASE, "AIRTABLE_FIELD_CLIENT_NAME": " Company "})
    airtable = settings.airtable
    assert airtable is not None
    assert (airtable.clients_table, airtable.runs_table, airtable.sweeps_table) == ("Clients", "Job Runs", "Sweeps")
    assert airtable.endpoint_url == "https://api.airtable.com"
    assert (airtable.requests_per_second, airtable.rate_limit_wait) == (5.0, 30.0)
    assert airtable.field_names == {"CLIENT_NAME": "Company"}
    assert "secret-value" not in repr(settings)


def test_the_sqlite_store_ignores_airtable_settings() -> None:
    assert load_settings(environ={"AIRTABLE_FIELD_NOPE": "x"}).airtable is None


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"AIRTABLE_API_KEY": " "}, "needs AIRTABLE_API_KEY"),
        ({"AIRTABLE_BASE_ID": ""}, "needs AIRTABLE_BASE_ID"),
        ({"AIRTABLE_BASE_ID": "base1"}, "base ids are 'app' and 14 letters or digits"),
        ({"AIRTABLE_BASE_ID": "app123"}, "AIRTABLE_BASE_ID='app123' (from the environment) is not a base id"),
        ({"AIRTABLE_FIELD_LEAD_SCORING_STATUS": "S"}, "similar: LEAD_SCORING_JOB_STATUS"),
        ({"AIRTABLE_FIELD_CLIENT_ID": ""}, "must be non-empty"),
        ({"AIRTABLE_CLIENTS_TABLE": ""}, "AIRTABLE_CLIENTS_TABLE is empty"),
        ({"AIRTABLE_RETRY_BUDGET_SECONDS": "0"}, "AIRTABLE_RETRY_BUDGET_SECONDS='0'"),
        ({"AIRTABLE_TIMEOUT_SECONDS": "-1"}, "AIRTABLE_TIMEOUT_SECONDS='-1'"),
        ({"FNF_STORE": "postgres"}, "use one of sqlite, airtable"),
    ],
)
def test_bad_airtable_settings_name_the_variable_and_never_the_token(change: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={**BASE, **change})
    assert fragment in str(info.value)
    assert "secret-value" not in str(info.value)


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"ALERT_EMAIL": "ops@example.com"}, "no way to send email is"),
        ({"SENDGRID_API_KEY": "SG.x"}, "ALERT_EMAIL is not"),
        ({"ALERT_EMAIL": "not-an-address", "SMTP_URL": "smtp://h:25"}, "'not-an-address', which is not an email"),
        (
            {"ALERT_EMAIL": "a@b.c", "SMTP_URL": "http://h:25"},
            "SMTP_URL (from the environment) is not a smtp/smtps URL",
        ),
        ({"SLACK_WEBHOOK_URL": "hooks.slack.com/x"}, "SLACK_WEBHOOK_URL (from the environment) is not"),
        ({"ALERT_WEBHOOK_SECRET": "whsec-123"}, "ALERT_WEBHOOK_URL is not"),
        ({"FNF_PING_URL": "ftp://x"}, "FNF_PING_URL"),
        ({"FNF_QUARANTINE_AFTER": "two"}, "FNF_QUARANTINE_AFTER='two'"),
        ({"FNF_ALERT_QUIET_MINUTES": "-1"}, "FNF_ALERT_QUIET_MINUTES='-1'"),
        ({"FNF_ALERT_TIMEOUT_SECONDS": "0"}, "FNF_ALERT_TIMEOUT_SECONDS='0'"),
    ],
)
def test_bad_alert_settings_are_named_without_their_secret_values(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ=environ)
    assert fragment in str(info.value)
    for key in ("SENDGRID_API_KEY", "SMTP_URL", "SLACK_WEBHOOK_URL", "FNF_PING_URL", "ALERT_WEBHOOK_SECRET"):
        if key in environ:
            assert environ[key] not in str(info.value), f"{key}'s value leaked into the message"


def test_alert_settings_parse_and_hide_their_secrets() -> None:
    settings = load_settings(
        environ={
            "ALERT_EMAIL": "a@x.com, b@x.com",
            "SMTP_URL": "smtps://u:pw-secret@mail.x.com:465",
            "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/slack-secret",
            "FNF_QUARANTINE_AFTER": "0",
        }
    )
    alerts = settings.alerts
    assert alerts.recipients == ("a@x.com", "b@x.com")
    assert alerts.channel_names == ("smtp", "slack")
    assert settings.quarantine_after == 0
    assert "pw-secret" not in repr(settings) and "slack-secret" not in repr(settings)
