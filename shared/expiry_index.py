"""The expiry index: beside every job the purge may one day delete, one small entry keyed by when its clock started.

Rule 6 (docs/contract.md) deletes Completed and Closed jobs a retention after they finished, and
jobs left in Creating a Creating expiry after their last update. Each such job
has an entry in its own partition (the subscription), row key
`!{clock}|{start time}|{job row key}`: an intra-partition secondary index.
Every job write changes the job and its entry in one entity group transaction,
so job and index never disagree, whatever crashes; and since every write of a
job rewrites its entry, the entry's ETag names the job's version. The purge
deletes entry and job in one transaction conditional on that ETag, without
reading the job.

Job row keys start with a resource group's first character, never '!', so
entries stay out of every listing.

To find the subscriptions with expired entries without scanning them all, the
purge reads a small directory (`ExpiryDirectory`): one row per clock, quarter
and subscription, with a property for each day that has entries. A writer adds the
day before it writes an entry there (once per process for recent days), so a
directory day can be extra (a write that then failed: the purge finds nothing
and drops it) but never missing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from azure.core import MatchConditions
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from .clock import Clock, SystemClock
from .models import Job, JobState
from .state_machine import ExpiryClock, expiry_clock
from .storage_client import SCAN_READ_TIMEOUT_SECONDS

ENTRY_PREFIX = "!"
# The least row key a job can have: a resource group starts with '(' or later, entries with '!' (before '"').
FIRST_JOB_ROW_KEY = '"'
DIRECTORY_PREFIX = "!"  # directory partitions: `!{clock}|{yyyy}-Q{n}`; subscriptions are GUIDs
ENTRIES_PER_PAGE = 1000  # the most one query page holds
MAX_TRANSACTION_OPERATIONS = 100
# A writer remembers the directory days it wrote only for days this recent; the purge drops no day this recent, nor
# the day before (`droppable_before`), so a write in flight across midnight never lands on a day just dropped.
REMEMBERED_DAYS = timedelta(days=1)


def droppable_before(today: date) -> date:
    """The purge may drop emptied directory days before this one: none a writer may still skip writing."""
    return today - REMEMBERED_DAYS - timedelta(days=1)


def format_time(moment: datetime) -> str:
    """Fixed width, UTC, microseconds, so that keys compared as text sort in time order.

    The year is always four digits: `strftime("%Y")` writes the year 999 as `999`, which sorts after `2026`.
    """
    utc = moment.astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


def clock_prefix(clock: ExpiryClock) -> str:
    """The row keys of a partition's entries of one clock all start with this."""
    return f"{ENTRY_PREFIX}{clock.value}|"


@dataclass(frozen=True)
class ExpiryEntry:
    """A job's entry: which clock runs for it, since when, and what the purge reports when it deletes the job."""

    clock: ExpiryClock
    started: datetime
    job_row_key: str
    resource_id: str
    state: JobState
    # Set on entries read back: the entry's own ETag, which names the job's version.
    etag: str | None = None

    @classmethod
    def for_job(cls, job: Job) -> ExpiryEntry | None:
        clock = expiry_clock(job)
        if clock is None:
            return None
        return cls(clock.clock, clock.started, job.key.row_key, job.key.resource_id, job.state)

    @property
    def row_key(self) -> str:
        return f"{clock_prefix(self.clock)}{format_time(self.started)}|{self.job_row_key}"

    @property
    def day(self) -> date:
        return self.started.astimezone(timezone.utc).date()

    def to_entity(self, partition_key: str) -> dict:
        return {
            "PartitionKey": partition_key,
            "RowKey": self.row_key,
            "JobRowKey": self.job_row_key,
            "ResourceId": self.resource_id,
            "State": self.state.value,
            "Started": format_time(self.started),
        }

    @classmethod
    def from_entity(cls, entity) -> ExpiryEntry:
        return cls(
            clock=ExpiryClock(entity["RowKey"][len(ENTRY_PREFIX) :].split("|", 1)[0]),
            started=datetime.fromisoformat(entity["Started"]),
            job_row_key=entity["JobRowKey"],
            resource_id=entity["ResourceId"],
            state=JobState(entity["State"]),
            etag=entity.metadata["etag"],
        )


def entry_operations(partition_key: str, previous: ExpiryEntry | None, current: ExpiryEntry | None) -> list[tuple]:
    """The transaction operations that take a job's entry from `previous` to `current` (either may be None).

    An entry that stays is rewritten all the same, so that its ETag changes with the job's.
    """
    operations: list[tuple] = []
    if previous is not None and (current is None or previous.row_key != current.row_key):
        operations.append(("delete", {"PartitionKey": partition_key, "RowKey": previous.row_key}))
    if current is not None:
        operations.append(("upsert", current.to_entity(partition_key), {"mode": UpdateMode.REPLACE}))
    return operations


def expired_entries(table: TableClient, partition_key: str, clock: ExpiryClock, cutoff: datetime) -> Iterator[list[ExpiryEntry]]:
    """Pages of a partition's entries of `clock` whose keys say it started before `cutoff`: one key-range query."""
    query = "PartitionKey eq @partition and RowKey ge @first and RowKey lt @cutoff"
    parameters = {"partition": partition_key, "first": clock_prefix(clock), "cutoff": clock_prefix(clock) + format_time(cutoff)}
    pages = table.query_entities(
        query, parameters=parameters, results_per_page=ENTRIES_PER_PAGE, read_timeout=SCAN_READ_TIMEOUT_SECONDS
    ).by_page()
    for page in pages:
        entries = [ExpiryEntry.from_entity(entity) for entity in page]
        if entries:
            yield entries


@dataclass(frozen=True)
class DirectoryRow:
    """The days of one clock and quarter on which a subscription's partition has (or had) entries."""

    clock: ExpiryClock
    quarter: str
    partition_key: str
    days: frozenset[date]
    etag: str
    written_at: datetime

    def days_through(self, last: date) -> frozenset[date]:
        return frozenset(day for day in self.days if day <= last)


@dataclass(frozen=True)
class DirectoryDrop:
    """Days a purge emptied of entries, to remove from their directory row if nobody wrote the row since."""

    row: DirectoryRow
    emptied: frozenset[date]


class ExpiryDirectory:
    """Which subscriptions have entries of which clock on which day, in the jobs table's `!` partitions.

    A row per clock, quarter and subscription, a property per day (at most 92, within a table entity's 252):
    the purge reads one row for a subscription's quarter however many days have entries.
    """

    def __init__(self, table: TableClient, *, clock: Clock | None = None) -> None:
        self._table = table
        self._clock = clock or SystemClock()
        # The recent days this process wrote, by day: older days are forgotten as the process lives on.
        self._written: dict[date, set[tuple[ExpiryClock, str]]] = {}
        self._lock = threading.Lock()

    def note(self, partition_key: str, entry: ExpiryEntry | None, *, previous: ExpiryEntry | None = None) -> None:
        """Before a job write that takes the job's entry from `previous` to `entry`: its day is in the directory.

        An entry that stays on its clock and day needs nothing: the day is listed while the entry exists, and the
        write, conditional on the job's ETag, lands only while it does. Otherwise one idempotent merge, skipped
        for a recent day this process has written.
        """
        if entry is None or (previous is not None and (previous.clock, previous.day) == (entry.clock, entry.day)):
            return
        oldest_recent = self._clock.now().date() - REMEMBERED_DAYS
        recent = entry.day >= oldest_recent
        with self._lock:
            # Recency is checked on every use: a long-lived process may remember a day the purge has since dropped.
            for day in [day for day in self._written if day < oldest_recent]:
                del self._written[day]
            if recent and (entry.clock, partition_key) in self._written.get(entry.day, ()):
                return
        self._table.upsert_entity(
            {"PartitionKey": _partition(entry.clock, entry.day), "RowKey": partition_key, _day_property(entry.day): True},
            mode=UpdateMode.MERGE,
        )
        if recent:
            with self._lock:
                self._written.setdefault(entry.day, set()).add((entry.clock, partition_key))

    @property
    def remembered(self) -> int:
        """How many (clock, subscription, day) this process remembers writing: recent days only."""
        with self._lock:
            return sum(len(pairs) for pairs in self._written.values())

    def rows_through(self, clock: ExpiryClock, last: date) -> Iterator[list[DirectoryRow]]:
        """Pages of the rows of `clock` for the quarters up to `last`'s: one key-range query over the directory."""
        query = "PartitionKey ge @first and PartitionKey le @last"
        parameters = {"first": f"{DIRECTORY_PREFIX}{clock.value}|", "last": _partition(clock, last)}
        pages = self._table.query_entities(
            query, parameters=parameters, results_per_page=ENTRIES_PER_PAGE, read_timeout=SCAN_READ_TIMEOUT_SECONDS
        ).by_page()
        for page in pages:
            rows = [_row(clock, entity) for entity in page]
            if rows:
                yield rows

    def drop_days(self, drops: list[DirectoryDrop]) -> None:
        """Removes the days the purge emptied from their rows, each only if nobody wrote its row since it was read.

        The rows of one clock and quarter share a partition, so their changes go in one transaction (up to 100);
        when one of them was written meanwhile, the others are tried one at a time and that one is left as it is.
        """
        with self._lock:
            for drop in drops:
                for day in drop.emptied:
                    self._written.get(day, set()).discard((drop.row.clock, drop.row.partition_key))
        by_partition: dict[str, list[tuple]] = {}
        for drop in drops:
            by_partition.setdefault(_quarter_partition(drop.row.clock, drop.row.quarter), []).append(_drop_operation(drop))
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


def _drop_operation(drop: DirectoryDrop) -> tuple:
    row = drop.row
    conditions = {"etag": row.etag, "match_condition": MatchConditions.IfNotModified}
    key = {"PartitionKey": _quarter_partition(row.clock, row.quarter), "RowKey": row.partition_key}
    remaining = row.days - drop.emptied
    if not remaining:
        return ("delete", key, conditions)
    return ("update", key | {_day_property(day): True for day in remaining}, {"mode": UpdateMode.REPLACE, **conditions})


def _partition(clock: ExpiryClock, day: date) -> str:
    return _quarter_partition(clock, f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}")


def _quarter_partition(clock: ExpiryClock, quarter: str) -> str:
    return f"{DIRECTORY_PREFIX}{clock.value}|{quarter}"


def _day_property(day: date) -> str:
    return f"D{day.month:02d}{day.day:02d}"


def _row(clock: ExpiryClock, entity) -> DirectoryRow:
    quarter = entity["PartitionKey"].split("|", 1)[1]
    year = int(quarter.split("-", 1)[0])
    days = frozenset(
        date(year, int(name[1:3]), int(name[3:5]))
        for name, value in entity.items()
        if len(name) == 5 and name[0] == "D" and name[1:].isdigit() and value
    )
    return DirectoryRow(clock, quarter, entity["RowKey"], days, entity.metadata["etag"], entity.metadata["timestamp"])


def chunks_by_partition(items, partition_of, size: int = 100):
    """Table transactions hold up to 100 operations on one partition."""
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(partition_of(item), []).append(item)
    for group in groups.values():
        for start in range(0, len(group), size):
            yield group[start : start + size]
