from __future__ import annotations

from pathlib import Path

import pytest

from fnf.config import Overrides, load_settings, parse_duration
from fnf.errors import EXIT_USAGE, ConfigError
from fnf.models import JobType


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("2h", 7200), ("1h30m", 5400), ("0.5s", 0.5), ("250ms", 0.25), (" 2H ", 7200)],
)
def test_durations_accept_units(text: str, seconds: float) -> None:
    assert parse_duration(text, name="--job-timeout") == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ten", "is not a duration"),
        ("10", "add a unit"),
        ("-5m", "is not a duration"),
        ("0s", "longer than zero"),
        ("", "is not a duration"),
        ("5 minutes", "is not a duration"),
        ("1h-5m", "is not a duration"),
    ],
)
def test_bad_durations_name_flag_value_and_accepted_form(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(text, name="--client-timeout")
    message = str(info.value)
    assert "--client-timeout" in message
    assert repr(text) in message
    assert fragment in message
    assert "90s" in message or "longer than zero" in message
    assert info.value.exit_code == EXIT_USAGE


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings(environ={})
    assert settings.client_timeout == 600
    assert settings.job_timeout == 7200
    assert settings.heartbeat_interval == 60
    assert settings.kill_grace == 10
    assert settings.stale_after == 180
    assert settings.db_path == Path("./fnf.db")
    assert settings.store == "sqlite"


def test_fractional_values_are_allowed() -> None:
    settings = load_settings(
        environ={
            "MAX_CLIENT_PROCESSING_MINUTES": "2.5",
            "MAX_JOB_PROCESSING_HOURS": "0.5",
            "HEARTBEAT_INTERVAL_MINUTES": "0.25",
        }
    )
    assert settings.client_timeout == 150
    assert settings.job_timeout == 1800
    assert settings.heartbeat_interval == 15


@pytest.mark.parametrize(
    "name", ["MAX_CLIENT_PROCESSING_MINUTES", "MAX_JOB_PROCESSING_HOURS", "HEARTBEAT_INTERVAL_MINUTES"]
)
@pytest.mark.parametrize("value", ["ten", "-5", "0", "", "nan", "inf"])
def test_malformed_environment_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={name: value})
    message = str(info.value)
    assert name in message
    assert repr(value) in message
    assert "greater than zero" in message


def test_grace_may_be_zero_but_not_negative() -> None:
    assert load_settings(environ={"FNF_KILL_GRACE_SECONDS": "0"}).kill_grace == 0
    with pytest.raises(ConfigError, match=r"FNF_KILL_GRACE_SECONDS='-1'"):
        load_settings(environ={"FNF_KILL_GRACE_SECONDS": "-1"})


def test_flags_override_environment() -> None:
    settings = load_settings(
        Overrides(client_timeout="90s", job_timeout="45m", db="/tmp/x.db"),
        environ={"MAX_CLIENT_PROCESSING_MINUTES": "10", "FNF_DB": "/tmp/y.db"},
    )
    assert settings.client_timeout == 90
    assert settings.job_timeout == 2700
    assert str(settings.db_path) == "/tmp/x.db"


def test_dotenv_is_under_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_CLIENT_PROCESSING_MINUTES=3\nMAX_JOB_PROCESSING_HOURS=1\nAPI_TOKEN=from-dotenv\n")
    monkeypatch.setenv("MAX_JOB_PROCESSING_HOURS", "4")
    monkeypatch.delenv("MAX_CLIENT_PROCESSING_MINUTES", raising=False)
    settings = load_settings(env_file=env_file)
    assert settings.client_timeout == 180  # from .env
    assert settings.job_timeout == 4 * 3600  # the environment wins over .env
    assert settings.environ["API_TOKEN"] == "from-dotenv"  # handed to child processes


def test_error_says_where_a_bad_value_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HEARTBEAT_INTERVAL_MINUTES=often\n")
    monkeypatch.delenv("HEARTBEAT_INTERVAL_MINUTES", raising=False)
    with pytest.raises(ConfigError, match=r"HEARTBEAT_INTERVAL_MINUTES='often' \(from .*\.env\)"):
        load_settings(env_file=env_file)


def test_unknown_store_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"FNF_STORE='postgres'.*use one of sqlite"):
        load_settings(environ={"FNF_STORE": "postgres"})


def test_handler_specs_from_environment() -> None:
    settings = load_settings(
        environ={"FNF_HANDLER_LEAD_SCORING": "pkg.mod:fn", "FNF_COMMAND_POST_SCORING": "node score.js"}
    )
    assert settings.handlers[JobType.LEAD_SCORING].kind == "python"
    assert settings.handlers[JobType.POST_SCORING].kind == "command"
    assert JobType.POST_HARVESTING not in settings.handlers


def test_both_handler_and_command_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"both FNF_HANDLER_LEAD_SCORING .* and FNF_COMMAND_LEAD_SCORING"):
        load_settings(environ={"FNF_HANDLER_LEAD_SCORING": "a:b", "FNF_COMMAND_LEAD_SCORING": "echo"})


@pytest.mark.parametrize(
    ("environ", "overrides", "attribute", "seconds"),
    [
        ({"MAX_JOB_PROCESSING_HOURS": "90m"}, {}, "job_timeout", 5400),
        ({"MAX_JOB_PROCESSING_HOURS": "2h"}, {}, "job_timeout", 7200),
        ({"MAX_CLIENT_PROCESSING_MINUTES": "45s"}, {}, "client_timeout", 45),
        ({"FNF_KILL_GRACE_SECONDS": "0"}, {}, "kill_grace", 0),
        ({}, {"client_timeout": "90"}, "client_timeout", 5400),
        ({}, {"job_timeout": "1.5"}, "job_timeout", 5400),
        ({}, {"kill_grace": "0s"}, "kill_grace", 0),
        ({}, {"kill_grace": "0"}, "kill_grace", 0),
        ({}, {"client_timeout": "1h30m"}, "client_timeout", 5400),
    ],
)
def test_one_rule_for_limits_a_plain_number_in_the_own_unit_or_a_duration(
    environ: dict[str, str], overrides: dict[str, str], attribute: str, seconds: float
) -> None:
    settings = load_settings(Overrides(**overrides), environ=environ)
    assert getattr(settings, attribute) == pytest.approx(seconds)
