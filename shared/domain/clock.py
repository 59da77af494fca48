"""The time source of the rules, injectable so tests and previews can pick the time, and the range of times they accept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol

# Times the rules work with. Outside it, arithmetic with a retention (up to ten years) could leave the range
# `datetime` allows, and no real job was created, moved or finished there.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


class TimeOutOfRange(ValueError):
    """A time before 1970 or from the year 9000 on (UTC), which the rules refuse."""


def to_utc(moment: datetime) -> datetime:
    """`moment` in UTC; raises `TimeOutOfRange` outside [EARLIEST, LATEST), including times UTC cannot hold."""
    try:
        converted = moment.astimezone(timezone.utc)
    except OverflowError as error:  # 0001-01-01T00:00+01:00 is still year 0 in UTC
        raise TimeOutOfRange(f"{moment.isoformat()} is outside the times this service accepts") from error
    if not EARLIEST <= converted < LATEST:
        raise TimeOutOfRange(
            f"{moment.isoformat()} is outside the times this service accepts ({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}, UTC)"
        )
    return converted


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that stands still until it is moved; for tests and `--as-of` previews."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware time")
        self._at = at.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._at

    def advance(self, by: timedelta) -> None:
        self._at += by
