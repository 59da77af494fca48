"""The expiry index: for every job that the purge may one day delete, one small entity keyed by when its clock started.

Rule 6 deletes Completed and Closed jobs a retention after `completedAt`, and
jobs left in Creating a Creating expiry after their last update. The index
holds one entry per such job in a table of its own: partition
`{clock}-{start day}` (`finished-2026-11-26`), row key `{start time}|{job
keys}`. The purge reads exactly the expired entries with key-range queries,
whatever the number of jobs; day partitions keep each partition, and each
delete transaction, small.

The store keeps it crash-safe by the order of its writes:
1. before a job write that gives the job a new entry, that entry is written (write-ahead);
2. after the job write, the entry learns the job's new ETag, and the entry of the version it replaced goes.
A crash between any two writes leaves at most an entry too many, never a job
without its entry. An entry that carries the job's ETag describes exactly that
version of the job, so the purge can delete it unread with that ETag; any
other entry is checked against the job before anything is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from .models import Job, JobState
from .state_machine import ExpiryClock, expiry_clock
from .storage_client import SCAN_READ_TIMEOUT_SECONDS

log = logging.getLogger("importexport.index")

ENTRIES_PER_PAGE = 1000  # the most one query page holds


def day_partition(clock: ExpiryClock, moment: datetime) -> str:
    return f"{clock.value}-{format_time(moment)[:10]}"


def format_time(moment: datetime) -> str:
    """Fixed width, UTC, microseconds, so that keys compared as text sort in time order.

    The year is always four digits: `strftime("%Y")` writes the year 999 as `999`, which sorts after `2026`.
    """
    utc = moment.astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


@dataclass(frozen=True)
class IndexEntry:
    clock: ExpiryClock
    started: datetime
    job_partition_key: str
    job_row_key: str
    resource_id: str
    state: JobState
    job_etag: str | None = None
    # Set on entries read back: when the entry was last written, and its own ETag.
    written_at: datetime | None = None

    @classmethod
    def for_job(cls, job: Job, job_etag: str | None = None) -> IndexEntry | None:
        clock = expiry_clock(job)
        if clock is None:
            return None
        key = job.key
        return cls(clock[0], clock[1], key.partition_key, key.row_key, key.resource_id, job.state, job_etag)

    @property
    def partition_key(self) -> str:
        return day_partition(self.clock, self.started)

    @property
    def row_key(self) -> str:
        return f"{format_time(self.started)}|{self.job_partition_key}|{self.job_row_key}"

    @property
    def address(self) -> tuple[str, str]:
        return self.partition_key, self.row_key

    def to_entity(self) -> dict:
        entity = {
            "PartitionKey": self.partition_key,
            "RowKey": self.row_key,
            "JobPartitionKey": self.job_partition_key,
            "JobRowKey": self.job_row_key,
            "ResourceId": self.resource_id,
            "State": self.state.value,
        }
        if self.job_etag is not None:
            entity["JobEtag"] = self.job_etag
        return entity

    @classmethod
    def from_entity(cls, entity) -> IndexEntry:
        return cls(
            clock=ExpiryClock(entity["PartitionKey"].split("-", 1)[0]),
            started=datetime.fromisoformat(entity["RowKey"].split("|", 1)[0]),
            job_partition_key=entity["JobPartitionKey"],
            job_row_key=entity["JobRowKey"],
            resource_id=entity["ResourceId"],
            state=JobState(entity["State"]),
            job_etag=entity.get("JobEtag"),
            written_at=entity.metadata["timestamp"],
        )


class ExpiryIndex:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def write_ahead(self, job: Job, previous: Job | None) -> None:
        """Step 1: the entry of the version about to be written, when it differs from the previous one's."""
        entry = IndexEntry.for_job(job)
        if entry is not None and (previous is None or _address(previous) != entry.address):
            self._table.upsert_entity(entry.to_entity(), mode=UpdateMode.REPLACE)

    def settle(self, job: Job, job_etag: str, previous: Job | None) -> None:
        """Step 2, after the job write: the entry learns the ETag; the previous version's entry goes.

        Best effort: the job is already written, and what a failure here leaves
        (an entry without the ETag, an entry too many) the purge checks and removes.
        """
        entry = IndexEntry.for_job(job, job_etag)
        try:
            if entry is not None:
                # Merge into the entry that write_ahead (or an earlier settle) made; never recreate one
                # the purge has already judged stale.
                self._table.update_entity(
                    {"PartitionKey": entry.partition_key, "RowKey": entry.row_key, "JobEtag": job_etag}, mode=UpdateMode.MERGE
                )
            old = _address(previous) if previous is not None else None
            if old is not None and (entry is None or old != entry.address):
                self._table.delete_entity(*old)
        except ResourceNotFoundError:
            log.info("index entry of %s was gone when settling", job.key.resource_id)
        except AzureError as error:
            log.warning("index not settled for %s (%s); the purge will check it", job.key.resource_id, type(error).__name__)

    def forget(self, job: Job) -> None:
        """After the job is deleted: its entry goes (best effort, as in settle)."""
        address = _address(job)
        if address is None:
            return
        try:
            self._table.delete_entity(*address)
        except AzureError as error:
            log.warning("index entry of deleted %s kept (%s); the purge will remove it", job.key.resource_id, type(error).__name__)

    def expired_entries(self, clock: ExpiryClock, cutoff: datetime) -> Iterator[list[IndexEntry]]:
        """Pages of the entries whose clock started before `cutoff`, oldest first.

        Two key-range queries: the whole days before the cutoff's day, then that day up to the cutoff.
        """
        cutoff_day = day_partition(clock, cutoff)
        queries = [
            ("PartitionKey ge @first and PartitionKey lt @cutoff_day", {"first": f"{clock.value}-", "cutoff_day": cutoff_day}),
            ("PartitionKey eq @cutoff_day and RowKey lt @cutoff", {"cutoff_day": cutoff_day, "cutoff": format_time(cutoff)}),
        ]
        for query, parameters in queries:
            pages = self._table.query_entities(
                query, parameters=parameters, results_per_page=ENTRIES_PER_PAGE, read_timeout=SCAN_READ_TIMEOUT_SECONDS
            ).by_page()
            for page in pages:
                entries = [IndexEntry.from_entity(entity) for entity in page]
                if entries:
                    yield entries

    def remove(self, entries: list[IndexEntry]) -> None:
        """Deletes entries in transactions of up to 100 per partition; one already gone is no error."""
        for chunk in chunks_by_partition(entries, lambda entry: entry.partition_key):
            operations = [("delete", {"PartitionKey": e.partition_key, "RowKey": e.row_key}) for e in chunk]
            try:
                self._table.submit_transaction(operations)
            except AzureError:
                for entry in chunk:
                    self._table.delete_entity(*entry.address)

    @property
    def table(self) -> TableClient:
        return self._table


def _address(job: Job) -> tuple[str, str] | None:
    entry = IndexEntry.for_job(job)
    return None if entry is None else entry.address


def chunks_by_partition(items, partition_of, size: int = 100):
    """Table transactions hold up to 100 operations on one partition."""
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(partition_of(item), []).append(item)
    for group in groups.values():
        for start in range(0, len(group), size):
            yield group[start : start + size]

