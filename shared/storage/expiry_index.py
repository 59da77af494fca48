"""The expiry index: beside every job the purge may one day delete, one small entry keyed by when its countdown started.

Rule 6 (docs/contract.md) deletes Completed and Closed jobs a retention after they finished, and jobs left in
Creating a Creating expiry after their last update (`shared.domain.retention`). Each such job has an entry in its
own partition (the subscription), row key `!{kind}|{start time}|{job row key}`: an intra-partition secondary
index. Every job write changes the job and its entry in one entity group transaction (`job_table`), so job and
index never disagree, whatever crashes; and since every write of a job rewrites its entry, the entry's ETag names
the job's version. The purge deletes entry and job in one transaction conditional on that ETag, without reading
the job (`ExpiryIndex.delete_expired`).

Job row keys start with a resource group's first character, never '!', so entries stay out of every listing.
Which subscriptions have entries on which days is the directory's to say (`directory`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, TableTransactionError, UpdateMode

from ..domain.clock import to_utc
from ..domain.job import Job, JobState
from ..domain.retention import ExpiryKind, expiry_start
from .client import SCAN_READ_TIMEOUT_SECONDS
from .sizes import check_property_sizes

ENTRY_PREFIX = "!"
# The least row key a job can have: a resource group starts with '(' or later, entries with '!' (before '"').
FIRST_JOB_ROW_KEY = '"'
ENTRIES_PER_PAGE = 1000  # the most one query page holds
# Two operations per purged job (entry and job), in transactions of at most 100.
JOBS_PER_PURGE_TRANSACTION = 50

# A Table transaction's operation: (kind, entity) or (kind, entity, options), as azure-data-tables takes them.
Operation = tuple[Any, ...]


# The states a job with an entry of each kind is in (`shared.domain.retention.expiry_start`).
STATES_OF_KIND = {
    ExpiryKind.FINISHED: frozenset({JobState.COMPLETED, JobState.CLOSED}),
    ExpiryKind.CREATING: frozenset({JobState.CREATING}),
    ExpiryKind.CANCEL_PENDING: frozenset({JobState.CREATING}),
}


def format_time(moment: datetime) -> str:
    """Fixed width, UTC, microseconds, so that keys compared as text sort in time order.

    The year is always four digits: `strftime("%Y")` writes the year 999 as `999`, which sorts after `2026`.
    """
    utc = moment.astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


def kind_prefix(kind: ExpiryKind) -> str:
    """The row keys of a partition's entries of one kind all start with this."""
    return f"{ENTRY_PREFIX}{kind.value}|"


@dataclass(frozen=True)
class ExpiryEntry:
    """A job's entry: which countdown runs for it, since when, and what the purge reports when it deletes the job."""

    kind: ExpiryKind
    started: datetime
    job_row_key: str
    resource_id: str
    state: JobState
    # Set on entries read back: the entry's own ETag, which names the job's version.
    etag: str | None = None

    @classmethod
    def for_job(cls, job: Job) -> ExpiryEntry | None:
        start = expiry_start(job)
        if start is None:
            return None
        return cls(start.kind, start.started, job.key.row_key, job.key.resource_id, job.state)

    @property
    def row_key(self) -> str:
        return f"{kind_prefix(self.kind)}{format_time(self.started)}|{self.job_row_key}"

    @property
    def day(self) -> date:
        return self.started.astimezone(timezone.utc).date()

    def to_entity(self, partition_key: str) -> dict[str, Any]:
        entity = {
            "PartitionKey": partition_key,
            "RowKey": self.row_key,
            "JobRowKey": self.job_row_key,
            "ResourceId": self.resource_id,
            "State": self.state.value,
            "Started": format_time(self.started),
        }
        check_property_sizes(entity)
        return entity

    @classmethod
    def from_entity(cls, entity: TableEntity) -> ExpiryEntry:
        """The entry an entity holds, checked as far as the entity itself can say; ValueError when it holds none
        this app writes (a column missing or of another type, a time without its zone, a key that does not name
        the job)."""
        row_key, job_row_key, resource_id = entity["RowKey"], entity["JobRowKey"], entity["ResourceId"]
        if not all(isinstance(value, str) and value for value in (row_key, job_row_key, resource_id, entity["Started"])):
            raise ValueError("a key, the job's row key, the resource id or the start is not text")
        parsed = datetime.fromisoformat(entity["Started"])
        if parsed.tzinfo is None:
            raise ValueError("the start has no time zone")
        started = to_utc(parsed)  # TimeOutOfRange (a ValueError) outside 1970 to 9000
        entry = cls(
            kind=ExpiryKind(row_key[len(ENTRY_PREFIX) :].split("|", 1)[0]),
            started=started,
            job_row_key=job_row_key,
            resource_id=resource_id,
            state=JobState(entity["State"]),
            etag=entity.metadata["etag"],
        )
        if entry.row_key != row_key:  # its key is made of its kind, its start and its job's row key
            raise ValueError("the row key does not name the entry's kind, start and job")
        if entry.state not in STATES_OF_KIND[entry.kind]:
            raise ValueError(f"a job in state {entry.state} has no countdown of the kind {entry.kind.value!r}")
        return entry


@dataclass(frozen=True)
class DamagedRow:
    """A row in the index or directory the app cannot read (damage no write of ours makes): skipped, counted and
    logged with its keys, never acted on."""

    partition_key: str
    row_key: str
    reason: str


@dataclass(frozen=True)
class EntryPage:
    """One page of a key-range query over entries: those read, and the rows in the range that are not entries."""

    entries: list[ExpiryEntry]
    damaged: list[DamagedRow]


def read_entry(entity: TableEntity) -> ExpiryEntry | DamagedRow:
    """The entry `entity` holds, or what is wrong with it."""
    try:
        return ExpiryEntry.from_entity(entity)
    except (KeyError, TypeError, ValueError) as error:
        return DamagedRow(str(entity.get("PartitionKey")), str(entity.get("RowKey")), f"{type(error).__name__}: {error}")


def entry_operations(partition_key: str, previous: ExpiryEntry | None, current: ExpiryEntry | None) -> list[Operation]:
    """The transaction operations that take a job's entry from `previous` to `current` (either may be None).

    An entry that stays is rewritten all the same, so that its ETag changes with the job's.
    """
    operations: list[Operation] = []
    if previous is not None and (current is None or previous.row_key != current.row_key):
        operations.append(("delete", {"PartitionKey": partition_key, "RowKey": previous.row_key}))
    if current is not None:
        operations.append(("upsert", current.to_entity(partition_key), {"mode": UpdateMode.REPLACE}))
    return operations


def if_match(etag: str | None) -> dict[str, Any]:
    """A write's options that make it conditional on `etag`."""
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


class PurgeOutcome(Enum):
    """What became of one expired entry's job when the purge tried to delete it."""

    DELETED = "deleted"  # job and entry went together
    CHANGED = "changed"  # the job was written since the entry was read: its new version has an entry of its own
    GONE = "gone"  # someone else deleted it first


@dataclass
class PurgeResult:
    """The entries of one partition's purge, by outcome."""

    by_outcome: dict[PurgeOutcome, list[ExpiryEntry]] = field(default_factory=lambda: {outcome: [] for outcome in PurgeOutcome})

    def add(self, outcome: PurgeOutcome, entries: list[ExpiryEntry]) -> None:
        self.by_outcome[outcome].extend(entries)

    @property
    def deleted(self) -> list[ExpiryEntry]:
        return self.by_outcome[PurgeOutcome.DELETED]


class ExpiryIndex:
    """The purge's side of the index in the jobs table: the expired entries of a partition, and their jobs' deletes."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def expired_entries(self, partition_key: str, kind: ExpiryKind, cutoff: datetime) -> Iterator[EntryPage]:
        """Pages of the partition's entries of `kind` whose keys say it started before `cutoff`: one key-range query."""
        return self._entries_between(partition_key, kind_prefix(kind), kind_prefix(kind) + format_time(cutoff))

    def entries(self, partition_key: str, kind: ExpiryKind) -> Iterator[EntryPage]:
        """Pages of all the partition's entries of `kind`: one key-range query."""
        prefix = kind_prefix(kind)
        # '|' + 1 is '}': [prefix, upper) holds exactly the keys that start with the prefix.
        return self._entries_between(partition_key, prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1))

    def _entries_between(self, partition_key: str, first: str, before: str) -> Iterator[EntryPage]:
        query = "PartitionKey eq @partition and RowKey ge @first and RowKey lt @before"
        parameters = {"partition": partition_key, "first": first, "before": before}
        pages = self._table.query_entities(
            query, parameters=parameters, results_per_page=ENTRIES_PER_PAGE, read_timeout=SCAN_READ_TIMEOUT_SECONDS
        ).by_page()
        for page in pages:
            read = [read_entry(entity) for entity in page]
            entries = [entry for entry in read if isinstance(entry, ExpiryEntry)]
            damaged = [row for row in read if isinstance(row, DamagedRow)]
            if read:
                yield EntryPage(entries, damaged)

    def get_entry(self, partition_key: str, row_key: str) -> ExpiryEntry | DamagedRow | None:
        """An entry as it is now (after a purge found it changed), what is wrong with it, or None when it is gone."""
        try:
            return read_entry(self._table.get_entity(partition_key, row_key))
        except ResourceNotFoundError:
            return None

    def delete_expired(self, partition_key: str, entries: list[ExpiryEntry]) -> PurgeResult:
        """Deletes each entry's job with the entry, in one partition, conditional on the entry's ETag.

        Every write of a job rewrites its entry, so an entry still at the ETag the
        purge read means the job is still the version that entry describes: the
        job needs no reading. A transaction that fails is retried one job at a
        time, so one changed job never keeps the others from being deleted.
        """
        result = PurgeResult()
        for start in range(0, len(entries), JOBS_PER_PURGE_TRANSACTION):
            chunk = entries[start : start + JOBS_PER_PURGE_TRANSACTION]
            try:
                self._table.submit_transaction(
                    [operation for entry in chunk for operation in _purge_operations(partition_key, entry)]
                )
                result.add(PurgeOutcome.DELETED, chunk)
                continue
            except TableTransactionError:
                pass
            for entry in chunk:
                result.add(self.delete_one_expired(partition_key, entry), [entry])
        return result

    def delete_one_expired(self, partition_key: str, entry: ExpiryEntry) -> PurgeOutcome:
        """As `delete_expired`, for one entry."""
        try:
            self._table.submit_transaction(_purge_operations(partition_key, entry))
            return PurgeOutcome.DELETED
        except TableTransactionError as error:
            return PurgeOutcome.GONE if error.status_code == 404 else PurgeOutcome.CHANGED


def _purge_operations(partition_key: str, entry: ExpiryEntry) -> list[Operation]:
    # Conditional on the entry's ETag: the job delete beside it takes effect only with it, in the same transaction.
    return [
        ("delete", {"PartitionKey": partition_key, "RowKey": entry.row_key}, if_match(entry.etag)),
        ("delete", {"PartitionKey": partition_key, "RowKey": entry.job_row_key}),
    ]
