from __future__ import annotations

import os

import pytest

from fnf.config import HandlerSpec
from fnf.errors import EXIT_USAGE, HandlerError
from fnf.handlers import CommandHandler, PythonHandler, placeholder_values, resolve, resolve_all
from fnf.models import Client, JobType

LEAD = JobType.LEAD_SCORING


def spec(kind: str, value: str) -> HandlerSpec:
    key = "FNF_HANDLER_LEAD_SCORING" if kind == "python" else "FNF_COMMAND_LEAD_SCORING"
    return HandlerSpec(LEAD, kind, value, key)


def test_python_callable_resolves() -> None:
    handler = resolve(spec("python", "fnf.examples:score_leads"), os.environ)
    assert isinstance(handler, PythonHandler)
    assert handler.func.__name__ == "score_leads"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("fnf.examples", "is not of the form package.module:function"),
        ("no_such_module_xyz:run", "cannot import module 'no_such_module_xyz'"),
        ("fnf.examples:nope", "has no attribute 'nope'"),
        ("fnf.examples:_WHAT", "is not callable"),
        (":run", "is not of the form"),
    ],
)
def test_bad_python_handlers_are_configuration_errors(value: str, fragment: str) -> None:
    with pytest.raises(HandlerError) as info:
        resolve(spec("python", value), os.environ)
    assert fragment in str(info.value)
    assert "FNF_HANDLER_LEAD_SCORING" in str(info.value)
    assert info.value.exit_code == EXIT_USAGE


def test_command_is_split_without_a_shell_and_placeholders_stay_one_argument() -> None:
    handler = resolve(spec("command", "echo --client {client_id} --name={client_name} '{job_id}'"), os.environ)
    assert isinstance(handler, CommandHandler)
    client = Client("rec1", "x; rm -rf ~ $(reboot) {job_id}", 2)
    argv = handler.render(placeholder_values(client, LEAD, "job_lead_stream2_x", "run1"))
    assert argv == ["echo", "--client", "rec1", "--name=x; rm -rf ~ $(reboot) {job_id}", "job_lead_stream2_x"]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("no-such-program-xyz --x", "command 'no-such-program-xyz' was not found"),
        ("/nonexistent/bin/tool", "was not found or is not executable"),
        ("echo {client}", "unknown placeholder {client}"),
        ("echo 'unclosed", "cannot be split into arguments"),
        ("  ", "is empty"),
    ],
)
def test_bad_commands_are_configuration_errors(value: str, fragment: str) -> None:
    with pytest.raises(HandlerError) as info:
        resolve(spec("command", value), os.environ)
    assert fragment in str(info.value)


def test_missing_handler_names_both_variables() -> None:
    with pytest.raises(HandlerError) as info:
        resolve_all((JobType.POST_SCORING,), {}, os.environ)
    assert "FNF_HANDLER_POST_SCORING" in str(info.value)
    assert "FNF_COMMAND_POST_SCORING" in str(info.value)
