"""The job store: jobs as entities of one Azure Table, every write one conditional storage transaction.

Partition key: the subscription (lower case). Row key: `{resource group}:{job}`
(lower case), so a subscription is one partition and a resource group one
key range of it; listing never scans the table. Each job the purge may one
day delete has its expiry entry beside it in the same partition
(`expiry_index`), written in the same entity group transaction as the job:
one storage request per write, and job and index can never disagree.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import NamedTuple

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from .clock import Clock
from .errors import BadRequest, RequestTooLarge
from .expiry_index import FIRST_JOB_ROW_KEY, ExpiryDirectory, ExpiryEntry, entry_operations, expired_entries
from .filters import JobFilter, filter_columns
from .models import Job, JobProperties
from .names import JobKey, Scope
from .settings import load_settings
from .state_machine import ExpiryClock
from .storage_client import log_requests, storage_transport, table_client, table_service

# A string property of a table entity holds at most 64 KiB of UTF-16, i.e. 32K characters.
MAX_PROPERTY_CHARS = 32_000
# Written on every job: its expiry entry, if it has one, is beside it. Jobs written before (layout 1) kept their
# entries in a table of their own; `python -m shared.migrate` moves them.
LAYOUT = 2
# Layout 2 keeps a job's properties under a new column name. An app of layout 1, still running during a deploy or
# after a rollback, reads "Properties": it cannot read a layout 2 job, so it cannot write one either, and a write that
# left the entry beside it behind would let the purge delete the job on the entry's word (the entry's ETag names the
# job's version only while every writer rewrites the entry).
PROPERTIES_COLUMN = "JobProperties"
LAYOUT_1_PROPERTIES_COLUMN = "Properties"
# Two operations per purged job (entry and job), in transactions of at most 100.
JOBS_PER_PURGE_TRANSACTION = 50


@dataclass(frozen=True)
class StoredJob:
    job: Job
    etag: str
    # False for a job written by the previous layout: it has no entry beside it yet.
    entry_beside: bool = True
    # The ETag of its expiry entry, when this write gave it one: the purge's handle on this very version.
    entry_etag: str | None = None


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


class JobPage(NamedTuple):
    """One page of a listing: its jobs, and the token of the next page (None on the last)."""

    jobs: list[Job]
    next_skip_token: str | None


class JobStore:
    def __init__(self, table: TableClient, *, clock: Clock | None = None) -> None:
        """A store over `table`; `clock` (the system's by default) tells the directory which days are recent."""
        self._table = table
        self.directory = ExpiryDirectory(table, clock=clock)

    @property
    def table(self) -> TableClient:
        """The jobs table (jobs, their expiry entries and the expiry directory)."""
        return self._table

    @classmethod
    def connect(cls, connection: str, table_name: str, **client_options) -> "JobStore":
        """A store over the jobs table, created if missing."""
        options = {"transport": storage_transport(), **client_options}  # one connection pool for both clients
        try:
            table_service(connection, **options).create_table(table_name)
        except ResourceExistsError:
            pass
        return cls(table_client(connection, table_name, **options))

    def get(self, key: JobKey) -> StoredJob | None:
        return self.get_version(key.partition_key, key.row_key)

    def insert(self, job: Job) -> StoredJob:
        """Adds a new job and its entry; raises `ResourceExistsError` when a job with its key exists."""
        partition = job.key.partition_key
        entry = ExpiryEntry.for_job(job)
        self.directory.note(partition, entry)
        operations = [("create", job_entity(job)), *entry_operations(partition, None, entry)]
        return _written(job, entry, self._submit(operations))

    def replace(self, job: Job, current: StoredJob) -> StoredJob:
        """Writes `job` over `current`, and moves its entry, only if the stored job is still at `current.etag`.

        Raises `ResourceModifiedError` when it changed and `ResourceNotFoundError` when it is gone.
        """
        partition = job.key.partition_key
        entry = ExpiryEntry.for_job(job)
        previous = ExpiryEntry.for_job(current.job) if current.entry_beside else None
        self.directory.note(partition, entry, previous=previous)
        operations = [
            (
                "update",
                job_entity(job),
                {"mode": UpdateMode.REPLACE, "etag": current.etag, "match_condition": MatchConditions.IfNotModified},
            ),
            *entry_operations(partition, previous, entry),
        ]
        return _written(job, entry, self._submit(operations))

    def delete(self, current: StoredJob) -> bool:
        """Deletes the job and its entry only if it is still at `current.etag`; False when it was already gone.

        Raises `ResourceModifiedError` when it changed.
        """
        key = current.job.key
        previous = ExpiryEntry.for_job(current.job) if current.entry_beside else None
        operations = [
            ("delete", {"PartitionKey": key.partition_key, "RowKey": key.row_key}, _if_match(current.etag)),
            *entry_operations(key.partition_key, previous, None),
        ]
        try:
            self._submit(operations)
        except ResourceNotFoundError:
            return False
        return True

    def expired_entries(self, partition_key: str, clock: ExpiryClock, cutoff: datetime) -> Iterator[list[ExpiryEntry]]:
        """Pages of the partition's entries of `clock` whose keys say it started before `cutoff`."""
        return expired_entries(self._table, partition_key, clock, cutoff)

    def get_entry(self, partition_key: str, row_key: str) -> ExpiryEntry | None:
        """An entry as it is now (after a purge found it changed), or None when it is gone."""
        try:
            return ExpiryEntry.from_entity(self._table.get_entity(partition_key, row_key))
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
                result.add(self._delete_one(partition_key, entry), [entry])
        return result

    def delete_one_expired(self, partition_key: str, entry: ExpiryEntry) -> PurgeOutcome:
        """As `delete_expired`, for one entry."""
        return self._delete_one(partition_key, entry)

    def _delete_one(self, partition_key: str, entry: ExpiryEntry) -> PurgeOutcome:
        try:
            self._table.submit_transaction(_purge_operations(partition_key, entry))
            return PurgeOutcome.DELETED
        except TableTransactionError as error:
            return PurgeOutcome.GONE if error.status_code == 404 else PurgeOutcome.CHANGED

    def get_version(self, partition_key: str, row_key: str) -> StoredJob | None:
        try:
            entity = self._table.get_entity(partition_key, row_key)
        except ResourceNotFoundError:
            return None
        return stored_job(entity)

    def list(self, scope: Scope, top: int, skip_token: str | None, *, job_filter: JobFilter | None = None) -> JobPage:
        """One page of the jobs in `scope` that meet `job_filter`, in key order, and the token of the next page (or None).

        With a filter, Table Storage may answer fewer than `top` jobs (even none) and a continuation: the
        listing then gives out a next page for as long as storage does.
        """
        continuation = _decode_skip_token(skip_token, scope, job_filter)
        if job_filter is not None and job_filter.matches_nothing:
            return JobPage([], None)
        conditions = ["PartitionKey eq @partition"]
        parameters = {"partition": scope.partition_key}
        prefix = scope.row_key_prefix
        if prefix is not None:
            # ':' + 1 is ';', so [prefix, upper) holds exactly the keys that start with prefix.
            conditions += ["RowKey ge @low", "RowKey lt @high"]
            parameters.update(low=prefix, high=prefix[:-1] + chr(ord(prefix[-1]) + 1))
        else:
            conditions.append("RowKey ge @first_job")  # past the partition's expiry entries
            parameters["first_job"] = FIRST_JOB_ROW_KEY
        if job_filter is not None:
            # Column names are ours (FILTER_COLUMNS); the caller's values only ever travel as parameters.
            for number, (column, value) in enumerate(sorted(job_filter.column_values().items())):
                conditions.append(f"{column} eq @filter{number}")
                parameters[f"filter{number}"] = value
        pages = self._table.query_entities(" and ".join(conditions), parameters=parameters, results_per_page=top).by_page(
            continuation_token=continuation
        )
        page = next(pages, [])
        jobs = [job_from_entity(entity) for entity in page]
        return JobPage(jobs, _encode_skip_token(pages.continuation_token, scope, job_filter))

    def _submit(self, operations: list[tuple]) -> list:
        """One transaction; a failure of its first operation (the job's) raises what a single write would.

        A job write that leaves no entry to change (a job with the datacenter) is a plain conditional update.
        """
        if len(operations) == 1 and operations[0][0] == "update":
            _, entity, options = operations[0]
            return [self._table.update_entity(entity, **options)]
        try:
            return self._table.submit_transaction(operations)
        except TableTransactionError as error:
            if error.index == 0:
                if error.status_code == 409:
                    raise ResourceExistsError(error.message, response=error.response) from error
                if error.status_code == 412:
                    raise ResourceModifiedError(error.message, response=error.response) from error
                if error.status_code == 404:
                    raise ResourceNotFoundError(error.message, response=error.response) from error
            raise


def _written(job: Job, entry: ExpiryEntry | None, results: list) -> StoredJob:
    # The job's operation comes first in its transaction, the entry's upsert (when it has one) last.
    return StoredJob(job, results[0]["etag"], entry_etag=results[-1]["etag"] if entry is not None else None)


def _if_match(etag: str) -> dict:
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _purge_operations(partition_key: str, entry: ExpiryEntry) -> list[tuple]:
    # Conditional on the entry's ETag: the job delete beside it takes effect only with it, in the same transaction.
    return [
        ("delete", {"PartitionKey": partition_key, "RowKey": entry.row_key}, _if_match(entry.etag)),
        ("delete", {"PartitionKey": partition_key, "RowKey": entry.job_row_key}),
    ]


def stored_job(entity) -> StoredJob:
    return StoredJob(job_from_entity(entity), entity.metadata["etag"], entity.get("Layout", 1) >= LAYOUT)


def job_entity(job: Job) -> dict:
    key = job.key
    entity = {
        "PartitionKey": key.partition_key,
        "RowKey": key.row_key,
        "SubscriptionId": job.subscription_id,
        "ResourceGroup": job.resource_group,
        "JobName": job.name,
        "Location": job.location,
        "Tags": json.dumps(job.tags, ensure_ascii=False, separators=(",", ":")),
        PROPERTIES_COLUMN: job.properties.model_dump_json(by_alias=True, exclude_none=True),
        **filter_columns(job),
        "Layout": LAYOUT,
    }
    for column, what in (("Tags", "tags"), (PROPERTIES_COLUMN, "properties")):
        if len(entity[column]) > MAX_PROPERTY_CHARS:
            raise RequestTooLarge(f"The job's {what} take {len(entity[column])} characters; the limit is {MAX_PROPERTY_CHARS}.")
    return entity


def job_from_entity(entity: dict) -> Job:
    return Job(
        subscription_id=entity["SubscriptionId"],
        resource_group=entity["ResourceGroup"],
        name=entity["JobName"],
        location=entity["Location"],
        tags=json.loads(entity["Tags"]),
        properties=JobProperties.model_validate_json(entity[_properties_column(entity)]),
    )


def _properties_column(entity: dict) -> str:
    return PROPERTIES_COLUMN if entity.get("Layout", 1) >= LAYOUT else LAYOUT_1_PROPERTIES_COLUMN


def _listing_id(scope: Scope, job_filter: JobFilter | None) -> str:
    """What a skip token continues: the scope, and the filter's digest (so a token never continues another filter)."""
    listing = f"{scope.partition_key}/{scope.row_key_prefix or ''}"
    if job_filter is None:
        return listing  # as tokens were before filters, so those still continue
    return f"{listing}?{hashlib.sha256(job_filter.canonical().encode()).hexdigest()[:32]}"


def _encode_skip_token(continuation: dict | None, scope: Scope, job_filter: JobFilter | None) -> str | None:
    """The storage continuation, bound to the listing it continues, as an opaque URL-safe token."""
    if not continuation:
        return None
    raw = json.dumps({**continuation, "Scope": _listing_id(scope, job_filter)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_skip_token(token: str | None, scope: Scope, job_filter: JobFilter | None) -> dict | None:
    if token is None:
        return None
    invalid = BadRequest(
        "The $skipToken is not one this listing gave out; start the listing again.", code="InvalidSkipToken", target="$skipToken"
    )
    try:
        continuation = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as error:
        raise invalid from error
    if (
        not isinstance(continuation, dict)
        or set(continuation) != {"PartitionKey", "RowKey", "Scope"}
        or continuation["Scope"] != _listing_id(scope, job_filter)
        or not all(value is None or (isinstance(value, str) and len(value) <= 2048) for value in continuation.values())
    ):
        raise invalid
    return {"PartitionKey": continuation["PartitionKey"], "RowKey": continuation["RowKey"]}


@functools.cache
def _store_for(connection: str, table_name: str) -> JobStore:
    return JobStore.connect(connection, table_name)


# A store put in place of the settings' one by `install_store`.
_installed: JobStore | None = None


def install_store(job_store: JobStore | None) -> None:
    """Makes `get_store` answer `job_store` in this process, instead of the store the settings name; None puts the
    settings' store back. For tests and tools that wrap the real store (to record its writes, say): call
    `shared.jobs.reload_settings()` after it, so the service is built over it."""
    global _installed
    _installed = job_store


def forget_store() -> None:
    """Forget the settings and the store built from them; the next `get_store` reads the settings again."""
    load_settings.cache_clear()
    _store_for.cache_clear()
    log_requests.cache_clear()


def get_store() -> JobStore:
    """The process's one store (one client, one connection pool; the table is created once), or the installed one."""
    settings = load_settings()
    log_requests(settings.log_storage_requests)
    if _installed is not None:
        return _installed
    return _store_for(settings.storage_connection, settings.table_name)
