"""Argument types for the benchmarks' command lines: a bad value is argparse's one-line usage error, not a traceback."""

from __future__ import annotations

import argparse
import math
import re

# Far beyond any useful run, and small enough for every sleep, range and sample.
MAX_COUNT = 10_000_000
MAX_SECONDS = 24 * 3600
_WHOLE = re.compile(r"[0-9]{1,9}")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 20 else text[:20] + "...")


def positive_int(text: str) -> int:
    """A whole number from 1 to MAX_COUNT, in ASCII digits."""
    if not _WHOLE.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number from 1 to {MAX_COUNT:,}")
    value = int(text)
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{value} is not a whole number from 1 to {MAX_COUNT:,}")
    return value


def positive_float(text: str) -> float:
    """Seconds: a number above 0 and at most a day."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number of seconds above 0 and at most {MAX_SECONDS}")
    return value


def positive_ints(text: str) -> list[int]:
    """A comma-separated list of whole numbers, each from 1 to MAX_COUNT."""
    return [positive_int(part) for part in text.split(",")]
