"""How big a table property may be, counted as Table Storage counts it: UTF-16 code units.

A string property holds at most 64 KiB of UTF-16: a character outside the Basic Multilingual Plane (an emoji) is two
units there and one in Python, so a length in Python characters can pass a limit that storage then refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..domain.errors import RequestTooLarge

# Storage's own limit is 32,768 units (64 KiB); a margin below it, the same for every property the app writes.
MAX_PROPERTY_UNITS = 32_000


def utf16_units(text: str) -> int:
    """The length of `text` as Table Storage counts it."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def check_property_sizes(entity: Mapping[str, Any], *, names: Mapping[str, str] | None = None, headroom: int = 0) -> None:
    """Raises `RequestTooLarge` for the first string property of `entity` longer than a property may be, less
    `headroom`; `names` says what to call a column in the message (its name by default)."""
    limit = MAX_PROPERTY_UNITS - headroom
    for column, value in entity.items():
        if isinstance(value, str) and (units := utf16_units(value)) > limit:
            what = (names or {}).get(column, column)
            room = f" (room is kept for the {headroom:,} the service and the datacenter may add later)" if headroom else ""
            raise RequestTooLarge(
                f"The job's {what} take {units:,} UTF-16 units as Table Storage counts them; the limit is {limit:,}{room}."
            )
