"""The listings' `$filter`: the service's small grammar, parsed into the conditions of a `JobFilter`.

    filter    := condition ("and" condition)*
    condition := field "eq" value
    field     := "type" | "trackingnumber" | "state"
    value     := "'" (any character but "'", or "''" for one quote)* "'"

Keywords and field names are case-insensitive; so are the values, each read into the form its field compares
(`shared.domain.job_filter`): the canonical spelling of an enum value, the case key of a tracking number.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import cast

from ..domain.errors import BadRequest
from ..domain.job import JobState, JobType
from ..domain.job_filter import Condition, FilterField, JobFilter
from ..domain.names import case_key

MAX_FILTER_CHARS = 2048
# How much of the caller's text an error message quotes.
SHOWN_CHARS = 40
TARGET = "$filter"

# The job types exactly as the job model spells them, so the two never drift apart.
JOB_TYPES: tuple[str, ...] = typing.get_args(JobType)


# Tokens: ASCII whitespace, a quoted value ('' inside is one quote), a word, or one other character.
_TOKEN = re.compile(r"(?P<space>[ \t\r\n]+)|(?P<value>'(?:[^']|'')*')|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<other>.)", re.DOTALL)
_GRAMMAR = "a $filter is conditions `field eq 'value'` joined by `and`, with field type, trackingnumber or state"


def parse_filter(text: str) -> JobFilter:
    """The conditions of `text`; anything outside the grammar is a 400 InvalidFilter naming the part not understood."""
    if len(text) > MAX_FILTER_CHARS:
        raise _invalid(f"The $filter is {len(text)} characters long; the limit is {MAX_FILTER_CHARS}.")
    tokens = _Tokens(text)
    if tokens.at_end():
        raise _invalid(f"The $filter is empty; {_GRAMMAR}, or leave $filter out.")
    conditions: list[Condition] = []
    while True:
        name = tokens.take("word", "expected a field name")
        if tokens.peek_text() == "(":
            raise tokens.not_understood("functions are not supported", back=1)
        try:
            field = FilterField(name.lower())
        except ValueError:
            raise _invalid(
                f"The $filter field '{_shown(name)}' is not understood; the fields are type, trackingnumber and state."
            ) from None
        tokens.take_keyword("eq", "only eq compares")
        if tokens.peek_text() == "'":
            raise tokens.not_understood("a quote is never closed")
        value = tokens.take("value", "expected a value in single quotes")
        conditions.append(Condition(field, _stored_value(field, value[1:-1].replace("''", "'"))))
        if tokens.at_end():
            return JobFilter(tuple(conditions))
        tokens.take_keyword("and", "conditions are joined only by and")


@dataclass(frozen=True)
class _Token:
    """One token of the filter: its kind (the name of the `_TOKEN` group it matched), its text and where it starts."""

    kind: str
    text: str
    at: int


class _Tokens:
    """The filter's tokens (whitespace dropped), read left to right; errors quote the text from the token at hand."""

    def __init__(self, text: str) -> None:
        self._text = text
        # Every alternative of _TOKEN is a named group, so a match's lastgroup is never None.
        self._tokens = [
            _Token(cast(str, match.lastgroup), match.group(), match.start())
            for match in _TOKEN.finditer(text)
            if match.lastgroup != "space"
        ]
        self._position = 0

    def at_end(self) -> bool:
        return self._position >= len(self._tokens)

    def peek_text(self) -> str | None:
        return None if self.at_end() else self._tokens[self._position].text

    def take(self, kind: str, why: str) -> str:
        if self.at_end() or self._tokens[self._position].kind != kind:
            raise self.not_understood(why)
        self._position += 1
        return self._tokens[self._position - 1].text

    def take_keyword(self, keyword: str, why: str) -> None:
        if self.take("word", why).lower() != keyword:
            raise self.not_understood(why, back=1)

    def not_understood(self, why: str, back: int = 0) -> BadRequest:
        position = self._position - back
        if position >= len(self._tokens):
            return _invalid(f"The $filter ends before a condition is complete ({why}); {_GRAMMAR}.")
        at = self._tokens[position].at
        return _invalid(f"The $filter is not understood at '{_shown(self._text[at:])}' ({why}); {_GRAMMAR}.")


def _stored_value(field: FilterField, value: str) -> str:
    if field is FilterField.TRACKING_NUMBER:
        return case_key(value)
    choices = JOB_TYPES if field is FilterField.TYPE else tuple(state.value for state in JobState)
    for choice in choices:
        if case_key(choice) == case_key(value):
            return choice
    raise _invalid(f"The $filter value '{_shown(value)}' is not a {field.value}; use one of {', '.join(choices)}.")


def _shown(text: str) -> str:
    """A bounded, printable excerpt of the caller's text for a message."""
    excerpt = "".join(char if char.isprintable() else "?" for char in text[:SHOWN_CHARS])
    return excerpt + "..." if len(text) > SHOWN_CHARS else excerpt


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="InvalidFilter", target=TARGET)
