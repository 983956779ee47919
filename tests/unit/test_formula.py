"""Formulas built from untrusted values select exactly the record they name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnf import formula as fx
from fnf.testing.airtable_emulator.formula import FormulaError, evaluate

KNOWN = {"Client ID", "Processing Stream", "Status"}


@given(st.text(max_size=40))
def test_any_text_matches_itself_and_nothing_else(value: str) -> None:
    formula = fx.eq("Client ID", value)
    assert evaluate(formula, {"Client ID": value}, KNOWN)
    assert not evaluate(formula, {"Client ID": value + "x"}, KNOWN)
    assert not evaluate(formula, {"Client ID": "x" + value}, KNOWN)


@pytest.mark.parametrize(
    "value",
    ['O\'Brien "Jr"', "{Client ID}", "a\\", "\\'", "') , TRUE(), ('", "日本語", "line\nbreak", "tab\t", ""],
)
def test_awkward_values_stay_literals(value: str) -> None:
    formula = fx.any_of([fx.eq("Client ID", value), fx.eq("Client ID", "other")])
    assert evaluate(formula, {"Client ID": value}, KNOWN)
    assert not evaluate(formula, {"Client ID": "someone else"}, KNOWN)


def test_numbers_blanks_and_combinations() -> None:
    row = {"Processing Stream": 2, "Status": "COMPLETED"}
    assert evaluate(fx.all_of([fx.eq("Processing Stream", 2), fx.not_blank("Status")]), row, KNOWN)
    assert not evaluate(fx.eq("Processing Stream", 3), row, KNOWN)
    assert evaluate(fx.blank("Client ID"), row, KNOWN)
    assert not evaluate(fx.not_blank("Client ID"), row, KNOWN)


def test_field_names_with_a_closing_brace_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot reference"):
        fx.field("odd}name")


@pytest.mark.parametrize("text", ["{Nope}='x'", "AND(", "'unterminated", "FOO()", "1 = = 2"])
def test_the_emulator_rejects_what_airtable_rejects(text: str) -> None:
    with pytest.raises(FormulaError):
        evaluate(text, {}, KNOWN)
