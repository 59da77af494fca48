"""The jobs table: the domain's `JobStore` over one Azure Table, every write one conditional storage transaction.

A subscription is one partition and a resource group one key range of it (`entities`), so listing never scans
the table. Each job the purge may one day delete has its expiry entry beside it in the same partition
(`expiry_index`), written in the same entity group transaction as the job: one storage request per write, and
job and index can never disagree. A write that puts an entry on a new day first notes the day in the directory
(`directory`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, TableTransactionError, UpdateMode

from ..domain.job import Job
from ..domain.job_filter import JobFilter
from ..domain.names import JobKey, Scope
from ..domain.store import JobPage, StoredJob
from . import skip_tokens
from .directory import ExpiryDirectory
from .entities import TableStoredJob, UnreadableJob, column_values, job_entity, job_from_entity, stored_job
from .expiry_index import FIRST_JOB_ROW_KEY, ExpiryEntry, Operation, entry_operations, if_match

log = logging.getLogger("importexport.store")


class TableJobStore:
    """Jobs in `table`, their expiry entries beside them, and the days of those entries noted in `directory`."""

    def __init__(self, table: TableClient, directory: ExpiryDirectory) -> None:
        self._table = table
        self._directory = directory

    def get(self, key: JobKey) -> TableStoredJob | None:
        try:
            entity = self._table.get_entity(key.partition_key, key.row_key)
        except ResourceNotFoundError:
            return None
        return stored_job(entity)

    def insert(self, job: Job, *, headroom: int = 0) -> TableStoredJob:
        """Adds a new job and its entry; raises `ResourceExistsError` when a job with its key exists, and
        `RequestTooLarge`, writing nothing, when it does not fit its columns with `headroom` UTF-16 units to spare."""
        entity = job_entity(job, headroom=headroom)  # before any write: a job too large writes nothing at all
        partition = job.key.partition_key
        entry = ExpiryEntry.for_job(job)
        self._directory.note(partition, entry)
        operations: list[Operation] = [("create", entity), *entry_operations(partition, None, entry)]
        return _written(job, entry, self._submit(operations))

    def replace(self, job: Job, current: StoredJob, *, headroom: int = 0) -> TableStoredJob:
        """Writes `job` over `current`, and moves its entry, only if the stored job is still at `current.etag`.

        Raises `ResourceModifiedError` when it changed, `ResourceNotFoundError` when it is gone, and
        `RequestTooLarge`, writing nothing, when `job` does not fit its columns with `headroom` units to spare.
        """
        entity = job_entity(job, headroom=headroom)
        partition = job.key.partition_key
        entry = ExpiryEntry.for_job(job)
        previous = ExpiryEntry.for_job(current.job) if _entry_beside(current) else None
        self._directory.note(partition, entry, previous=previous)
        operations: list[Operation] = [
            (
                "update",
                entity,
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
        previous = ExpiryEntry.for_job(current.job) if _entry_beside(current) else None
        operations: list[Operation] = [
            ("delete", {"PartitionKey": key.partition_key, "RowKey": key.row_key}, if_match(current.etag)),
            *entry_operations(key.partition_key, previous, None),
        ]
        try:
            self._submit(operations)
        except ResourceNotFoundError:
            return False
        return True

    def list_jobs(self, scope: Scope, top: int, skip_token: str | None, *, job_filter: JobFilter | None = None) -> JobPage:
        """One page of the jobs in `scope` that meet `job_filter`, in key order, and the token of the next page (or None).

        With a filter, Table Storage may answer fewer than `top` jobs (even none) and a continuation: the
        listing then gives out a next page for as long as storage does.
        """
        continuation = skip_tokens.decode(skip_token, scope, job_filter)
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
            for number, (column, value) in enumerate(sorted(column_values(job_filter).items())):
                conditions.append(f"{column} eq @filter{number}")
                parameters[f"filter{number}"] = value
        pages = self._table.query_entities(" and ".join(conditions), parameters=parameters, results_per_page=top).by_page(
            continuation_token=continuation  # type: ignore[arg-type]  # a table's continuation is a dict, typed str
        )
        try:
            page: Iterable[TableEntity] = next(pages, [])
        except HttpResponseError as error:
            # Storage refuses a continuation it never gave out (one of ours passed every check, so it is forged).
            if continuation is not None and error.status_code == 400:
                raise skip_tokens.invalid_token() from error
            raise
        jobs = []
        for entity in page:
            try:
                jobs.append(job_from_entity(entity))
            except UnreadableJob as error:  # one damaged row must not stop the listing of every other job
                log.error("%s; left out of the listing", error)
        continuation_token = pages.continuation_token  # type: ignore[attr-defined]  # a PageIterator's, typed Iterator
        return JobPage(jobs, skip_tokens.encode(continuation_token, scope, job_filter))

    def _submit(self, operations: list[Operation]) -> list[Any]:
        """One transaction; a failure of its first operation (the job's) raises what a single write would.

        A job write that leaves no entry to change (a job with the datacenter) is a plain conditional update. A
        previous entry that is not there (damage no write of ours makes) is not deleted: the write goes on without
        that delete, and so heals the job's index.
        """
        if len(operations) == 1 and operations[0][0] == "update":
            _, entity, options = operations[0]
            return [self._table.update_entity(entity, **options)]
        try:
            return self._table.submit_transaction(operations)
        except TableTransactionError as error:
            if error.index > 0 and error.status_code == 404 and operations[error.index][0] == "delete":
                log.warning(
                    "index entry %s of job %s was missing; the write goes on without it and writes the job's entry",
                    operations[error.index][1]["RowKey"],
                    operations[0][1]["RowKey"],
                )
                return self._submit(operations[: error.index] + operations[error.index + 1 :])
            if error.index == 0:
                if error.status_code == 409:
                    raise ResourceExistsError(error.message, response=error.response) from error
                if error.status_code == 412:
                    raise ResourceModifiedError(error.message, response=error.response) from error
                if error.status_code == 404:
                    raise ResourceNotFoundError(error.message, response=error.response) from error
            raise


def _entry_beside(current: StoredJob) -> bool:
    # A version this store did not read (a caller's own StoredJob) is of the current layout.
    return current.entry_beside if isinstance(current, TableStoredJob) else True


def _written(job: Job, entry: ExpiryEntry | None, results: list[Any]) -> TableStoredJob:
    # The job's operation comes first in its transaction, the entry's upsert (when it has one) last.
    return TableStoredJob(job, results[0]["etag"], entry_etag=results[-1]["etag"] if entry is not None else None)
