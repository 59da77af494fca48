"""A listing's `$skipToken`: Table Storage's continuation, bound to the listing it continues, as an opaque token.

A token carries the scope it was given out for and a digest of the filter, so it continues only that listing; any
other token is `InvalidSkipToken`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from ..domain.errors import InvalidSkipToken
from ..domain.job_filter import JobFilter
from ..domain.names import Scope
from .entities import FILTER_COLUMNS

# Storage continuation values are keys of at most 1 KiB (or, from Azure, their encoding); anything longer, in the
# UTF-8 a request carries it in, is not one we gave out.
MAX_VALUE_BYTES = 2048


def encode(continuation: dict[str, str] | None, scope: Scope, job_filter: JobFilter | None) -> str | None:
    """The storage continuation as an opaque URL-safe token; None when there is no next page."""
    if not continuation:
        return None
    raw = json.dumps({**continuation, "Scope": _listing_id(scope, job_filter)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str | None, scope: Scope, job_filter: JobFilter | None) -> dict[str, str] | None:
    """The storage continuation in `token`, which must be one this listing gave out; None for the first page."""
    if token is None:
        return None
    invalid = invalid_token()
    try:
        continuation = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, RecursionError) as error:  # RecursionError: JSON nested a thousand deep
        raise invalid from error
    if (
        not isinstance(continuation, dict)
        or set(continuation) != {"PartitionKey", "RowKey", "Scope"}
        or continuation["Scope"] != _listing_id(scope, job_filter)
        or not all(value is None or _is_continuation_text(value) for value in continuation.values())
    ):
        raise invalid
    return {"PartitionKey": continuation["PartitionKey"], "RowKey": continuation["RowKey"]}


def _is_continuation_text(value: object) -> bool:
    """Whether `value` could be a continuation storage gave out: text a request can carry, with no control characters."""
    if not isinstance(value, str):
        return False
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no request can carry it
        return False
    if len(encoded) > MAX_VALUE_BYTES:
        return False
    return not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in value)


def invalid_token() -> InvalidSkipToken:
    return InvalidSkipToken("The $skipToken is not one this listing gave out; start the listing again.", target="$skipToken")


def _listing_id(scope: Scope, job_filter: JobFilter | None) -> str:
    """What a token continues: the scope, and the filter's digest (so a token never continues another filter)."""
    listing = f"{scope.partition_key}/{scope.row_key_prefix or ''}"
    if job_filter is None:
        return listing  # as tokens were before filters, so those still continue
    return f"{listing}?{hashlib.sha256(canonical_filter(job_filter).encode()).hexdigest()[:32]}"


def canonical_filter(job_filter: JobFilter) -> str:
    """The same text for filters that select the same jobs, whatever their casing, order or repeats."""
    pairs = sorted({(FILTER_COLUMNS[condition.field], condition.value) for condition in job_filter.conditions})
    return " and ".join(f"{column} eq {_quote(value)}" for column, value in pairs)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
