"""The expiry directory: which subscriptions have expiry entries of which kind on which day.

To find the subscriptions with expired entries without scanning them all, the purge reads this small directory in
the jobs table's `!` partitions: one row per kind, quarter and subscription, with a property for each day that has
entries (at most 92, within a table entity's 252). A writer adds the day before it writes an entry there (once per
process for recent days), so a directory day can be extra (a write that then failed: the purge finds nothing and
drops it) but never missing.

Pending cancels (`ExpiryKind.CANCEL_PENDING`) are listed the same way, but a writer remembers their days for a minute
only (`CANCEL_NOTE_MEMORY`), so the completion can drop a day minutes after it emptied it, today's included, and its
runs every few seconds read only the subscriptions that cancelled recently.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from azure.data.tables import TableClient, TableEntity, TableTransactionError, UpdateMode

from ..domain.clock import Clock, SystemClock
from ..domain.retention import ExpiryKind
from .client import SCAN_READ_TIMEOUT_SECONDS
from .expiry_index import ENTRIES_PER_PAGE, DamagedRow, ExpiryEntry, Operation, if_match

DIRECTORY_PREFIX = "!"  # directory partitions: `!{kind}|{yyyy}-Q{n}`; subscriptions are GUIDs
MAX_TRANSACTION_OPERATIONS = 100
# A writer remembers the directory days it wrote only for days this recent; the purge drops no day this recent, nor
# the day before (`droppable_before`), so a write in flight across midnight never lands on a day just dropped.
REMEMBERED_DAYS = timedelta(days=1)
# A writer skips noting a pending cancel's day it noted this recently; the completion drops a day only from a row
# unwritten for `CANCEL_DIRECTORY_SETTLE`, longer than this memory, a request's deadline and clocks' skew together.
CANCEL_NOTE_MEMORY = timedelta(minutes=1)
CANCEL_DIRECTORY_SETTLE = timedelta(minutes=3)


def droppable_before(today: date) -> date:
    """The purge may drop emptied directory days before this one: none a writer may still skip writing."""
    return today - REMEMBERED_DAYS - timedelta(days=1)


@dataclass(frozen=True)
class DirectoryRow:
    """The days of one kind and quarter on which a subscription's partition has (or had) entries."""

    kind: ExpiryKind
    quarter: str
    partition_key: str
    days: frozenset[date]
    etag: str
    written_at: datetime

    def days_through(self, last: date) -> frozenset[date]:
        return frozenset(day for day in self.days if day <= last)


@dataclass(frozen=True)
class DirectoryPage:
    """One page of the directory: its rows as read (a day property that is not a date left out), and what in it
    could not be read."""

    rows: list[DirectoryRow]
    damaged: list[DamagedRow]


@dataclass(frozen=True)
class DirectoryDrop:
    """Days a purge emptied of entries, to remove from their directory row if nobody wrote the row since."""

    row: DirectoryRow
    emptied: frozenset[date]


class ExpiryDirectory:
    """Which subscriptions have entries of which kind on which day: the purge reads one row for a subscription's
    quarter, however many days have entries."""

    def __init__(self, table: TableClient, *, clock: Clock | None = None) -> None:
        self._table = table
        self._clock = clock or SystemClock()
        # The recent days this process wrote, by day, and when: older days are forgotten as the process lives on.
        self._written: dict[date, dict[tuple[ExpiryKind, str], datetime]] = {}
        self._lock = threading.Lock()

    def note(self, partition_key: str, entry: ExpiryEntry | None, *, previous: ExpiryEntry | None = None) -> None:
        """Before a job write that takes the job's entry from `previous` to `entry`: its day is in the directory.

        An entry that stays on its kind and day needs nothing: the day is listed while the entry exists, and the
        write, conditional on the job's ETag, lands only while it does. Otherwise one idempotent merge, skipped
        for a recent day this process has written.
        """
        if entry is None or (previous is not None and (previous.kind, previous.day) == (entry.kind, entry.day)):
            return
        now = self._clock.now()
        oldest_recent = now.date() - REMEMBERED_DAYS
        recent = entry.day >= oldest_recent
        with self._lock:
            # Recency is checked on every use: a long-lived process may remember a day the purge has since dropped.
            for day in [day for day in self._written if day < oldest_recent]:
                del self._written[day]
            written_at = self._written.get(entry.day, {}).get((entry.kind, partition_key)) if recent else None
            if written_at is not None and (entry.kind.deletes or now - written_at < CANCEL_NOTE_MEMORY):
                return
        self._table.upsert_entity(
            {"PartitionKey": _partition(entry.kind, entry.day), "RowKey": partition_key, _day_property(entry.day): True},
            mode=UpdateMode.MERGE,
        )
        if recent:
            with self._lock:
                self._written.setdefault(entry.day, {})[(entry.kind, partition_key)] = now

    @property
    def remembered(self) -> int:
        """How many (kind, subscription, day) this process remembers writing: recent days only."""
        with self._lock:
            return sum(len(pairs) for pairs in self._written.values())

    def rows_through(self, kind: ExpiryKind, last: date) -> Iterator[DirectoryPage]:
        """Pages of the rows of `kind` for the quarters up to `last`'s: one key-range query over the directory."""
        query = "PartitionKey ge @first and PartitionKey le @last"
        parameters = {"first": f"{DIRECTORY_PREFIX}{kind.value}|", "last": _partition(kind, last)}
        pages = self._table.query_entities(
            query, parameters=parameters, results_per_page=ENTRIES_PER_PAGE, read_timeout=SCAN_READ_TIMEOUT_SECONDS
        ).by_page()
        for page in pages:
            rows: list[DirectoryRow] = []
            damaged: list[DamagedRow] = []
            for entity in page:
                row, problems = _row(kind, entity)
                if row is not None:
                    rows.append(row)
                damaged += problems
            if rows or damaged:
                yield DirectoryPage(rows, damaged)

    def drop_days(self, drops: list[DirectoryDrop]) -> None:
        """Removes the days the purge emptied from their rows, each only if nobody wrote its row since it was read.

        The rows of one kind and quarter share a partition, so their changes go in one transaction (up to 100);
        when one of them was written meanwhile, the others are tried one at a time and that one is left as it is.
        """
        with self._lock:
            for drop in drops:
                for day in drop.emptied:
                    self._written.get(day, {}).pop((drop.row.kind, drop.row.partition_key), None)
        by_partition: dict[str, list[Operation]] = {}
        for drop in drops:
            by_partition.setdefault(_quarter_partition(drop.row.kind, drop.row.quarter), []).append(_drop_operation(drop))
        for operations in by_partition.values():
            for start in range(0, len(operations), MAX_TRANSACTION_OPERATIONS):
                chunk = operations[start : start + MAX_TRANSACTION_OPERATIONS]
                try:
                    self._table.submit_transaction(chunk)
                except TableTransactionError:
                    for operation in chunk:
                        try:
                            self._table.submit_transaction([operation])
                        except TableTransactionError:
                            pass  # written since the purge read it: the next run sees it as it is now


def _drop_operation(drop: DirectoryDrop) -> Operation:
    row = drop.row
    conditions = if_match(row.etag)
    key = {"PartitionKey": _quarter_partition(row.kind, row.quarter), "RowKey": row.partition_key}
    remaining = row.days - drop.emptied
    if not remaining:
        return ("delete", key, conditions)
    return ("update", key | {_day_property(day): True for day in remaining}, {"mode": UpdateMode.REPLACE, **conditions})


def _partition(kind: ExpiryKind, day: date) -> str:
    return _quarter_partition(kind, f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}")


def _quarter_partition(kind: ExpiryKind, quarter: str) -> str:
    return f"{DIRECTORY_PREFIX}{kind.value}|{quarter}"


def _day_property(day: date) -> str:
    return f"D{day.month:02d}{day.day:02d}"


def _row(kind: ExpiryKind, entity: TableEntity) -> tuple[DirectoryRow | None, list[DamagedRow]]:
    """The row `entity` holds, and what in it cannot be read: a day property that is not a date is left out (the
    rest of the row is used); a row whose partition names no quarter is not a row at all."""
    partition, row_key = str(entity.get("PartitionKey")), str(entity.get("RowKey"))
    try:
        quarter = partition.split("|", 1)[1]
        year = int(quarter.split("-", 1)[0])
        date(year, 1, 1)
    except (IndexError, ValueError) as error:
        return None, [DamagedRow(partition, row_key, f"a directory partition that names no quarter ({error})")]
    days: set[date] = set()
    damaged: list[DamagedRow] = []
    for name, value in entity.items():
        if not (len(name) == 5 and name[0] == "D" and name[1:].isdigit() and value):
            continue
        try:
            days.add(date(year, int(name[1:3]), int(name[3:5])))
        except ValueError:
            damaged.append(DamagedRow(partition, row_key, f"the day property {name} is not a date"))
    # A read entity's metadata always has both (None only in an entity made, not read).
    etag, written_at = cast(str, entity.metadata["etag"]), cast(datetime, entity.metadata["timestamp"])
    return DirectoryRow(kind, quarter, row_key, frozenset(days), etag, written_at), damaged
