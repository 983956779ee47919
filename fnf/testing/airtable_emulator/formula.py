"""The subset of Airtable's formula language the emulator evaluates for ``filterByFormula``.

Literals (``'text'``, ``"text"`` with backslash escapes, numbers), field references ``{Name}``,
comparisons (``= != <> < > <= >=``), ``&`` concatenation, and the functions AND, OR, NOT,
BLANK, TRUE, FALSE, IF, RECORD_ID, LOWER, UPPER, LEN, FIND, IS_BEFORE and IS_AFTER. As in Airtable, an empty cell
equals ``''`` and ``BLANK()``. Anything else is a :class:`FormulaError`, answered with 422.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<field>\{[^}]*\})
      | (?P<op><=|>=|!=|<>|[=<>&(),+\-*/])
      | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
    )""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


class FormulaError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FormulaError(f"unexpected text at {text[pos : pos + 12]!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body, flags=re.DOTALL)


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("=", "!=", "<>"):
        if _blank(left) or _blank(right):
            same = _blank(left) and _blank(right)
        elif isinstance(left, int | float) and isinstance(right, int | float):
            same = float(left) == float(right)
        else:
            same = str(left) == str(right)
        return same if op == "=" else not same
    if _blank(left) or _blank(right):
        return False
    if isinstance(left, int | float) != isinstance(right, int | float):
        left, right = str(left), str(right)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    return ops[op](left, right)


class _Parser:
    def __init__(self, text: str, row: Mapping[str, Any], known: set[str], record_id: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.row, self.known, self.record_id = row, known, record_id

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise FormulaError(f"expected {value or 'a value'} at token {self.pos + 1}")
        self.pos += 1
        return token

    def parse(self) -> Any:
        value = self.comparison()
        if self.peek() is not None:
            raise FormulaError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return value

    def comparison(self) -> Any:
        left = self.concat()
        token = self.peek()
        if token and token[0] == "op" and token[1] in ("=", "!=", "<>", "<", ">", "<=", ">="):
            self.pos += 1
            return _compare(token[1], left, self.concat())
        return left

    def concat(self) -> Any:
        left = self.primary()
        while (token := self.peek()) and token[0] == "op" and token[1] in ("&", "+", "-"):
            self.pos += 1
            right = self.primary()
            if token[1] == "&":
                left = ("" if left is None else str(left)) + ("" if right is None else str(right))
            else:
                a, b = float(left or 0), float(right or 0)
                left = a + b if token[1] == "+" else a - b
        return left

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "string":
            return _unescape(text[1:-1])
        if kind == "field":
            name = text[1:-1]
            if name not in self.known:
                raise FormulaError(f"Unknown field names: {name.lower()}")
            return self.row.get(name)
        if kind == "op" and text == "(":
            value = self.comparison()
            self.take(")")
            return value
        if kind == "op" and text == "-":
            return -float(self.primary() or 0)
        if kind == "name":
            return self.call(text.upper())
        raise FormulaError(f"unexpected {text!r}")

    def call(self, name: str) -> Any:
        self.take("(")
        args: list[Any] = []
        if self.peek() != ("op", ")"):
            args.append(self.comparison())
            while self.peek() == ("op", ","):
                self.pos += 1
                args.append(self.comparison())
        self.take(")")
        return _call(name, args, self.record_id)


def _call(name: str, args: list[Any], record_id: str) -> Any:
    if name == "AND":
        return all(bool(a) and a != "" for a in args)
    if name == "OR":
        return any(bool(a) and a != "" for a in args)
    if name == "NOT" and len(args) == 1:
        return not args[0]
    if name == "BLANK" and not args:
        return None
    if name in ("TRUE", "FALSE") and not args:
        return name == "TRUE"
    if name == "IF" and len(args) in (2, 3):
        return args[1] if args[0] else (args[2] if len(args) == 3 else None)
    if name == "RECORD_ID" and not args:
        return record_id
    if name in ("LOWER", "UPPER") and len(args) == 1:
        text = "" if args[0] is None else str(args[0])
        return text.lower() if name == "LOWER" else text.upper()
    if name == "LEN" and len(args) == 1:
        return len("" if args[0] is None else str(args[0]))
    if name in ("IS_BEFORE", "IS_AFTER") and len(args) == 2:
        first, second = (_moment(a) for a in args)
        if first is None or second is None:
            return False
        return first < second if name == "IS_BEFORE" else first > second
    if name == "FIND" and len(args) in (2, 3):
        return str(args[1] or "").find(str(args[0] or "")) + 1
    raise FormulaError(f"unknown function {name} with {len(args)} argument(s)")


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FormulaError(f"{value!r} is not a date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def evaluate(text: str, row: Mapping[str, Any], known: set[str], record_id: str = "") -> bool:
    """Whether the record ``row`` matches the formula ``text``."""
    value = _Parser(text, row, known, record_id).parse()
    return bool(value) and value != ""
