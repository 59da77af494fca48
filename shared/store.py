"""The job store: jobs as entities of one Azure Table, every write conditional on the entity's ETag.

Partition key: the subscription (lower case). Row key: `{resource group}:{job}`
(lower case), so a subscription is one partition and a resource group one
key range of it; listing never scans the table. Beside it, the expiry index
(`expiry_index`) is kept in step with every write, for the purge.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from dataclasses import dataclass

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from .errors import BadRequest, PayloadTooLarge
from .expiry_index import ExpiryIndex, chunks_by_partition
from .filters import JobFilter, filter_columns
from .models import Job, JobProperties
from .names import JobKey, Scope
from .settings import load_settings
from .storage_client import log_requests, storage_transport, table_client, table_service

# A string property of a table entity holds at most 64 KiB of UTF-16, i.e. 32K characters.
MAX_PROPERTY_CHARS = 32_000


@dataclass(frozen=True)
class StoredJob:
    job: Job
    etag: str


class JobStore:
    def __init__(self, table: TableClient, index: ExpiryIndex) -> None:
        self._table = table
        self.index = index

    @property
    def table(self) -> TableClient:
        """The jobs table."""
        return self._table

    @classmethod
    def connect(cls, connection: str, table_name: str, **client_options) -> "JobStore":
        """A store over the jobs table and its index table, both created if missing."""
        options = {"transport": storage_transport(), **client_options}  # one connection pool for the three clients
        service = table_service(connection, **options)
        for name in (table_name, index_table_name(table_name)):
            try:
                service.create_table(name)
            except ResourceExistsError:
                pass
        return cls(
            table_client(connection, table_name, **options),
            ExpiryIndex(table_client(connection, index_table_name(table_name), **options)),
        )

    def get(self, key: JobKey) -> StoredJob | None:
        return self.get_version(key.partition_key, key.row_key)

    def insert(self, job: Job) -> StoredJob:
        """Adds a new job; raises `ResourceExistsError` when one with its key exists."""
        entity = job_entity(job)
        self.index.write_ahead(job, previous=None)
        try:
            metadata = self._table.create_entity(entity)
        except ResourceExistsError:
            self.index.forget(job)  # the entry written ahead announced a job that was never written
            raise
        self.index.settle(job, metadata["etag"], previous=None)
        return StoredJob(job, metadata["etag"])

    def replace(self, job: Job, current: StoredJob) -> StoredJob:
        """Writes `job` over `current` only if the stored job is still at `current.etag`.

        Raises `ResourceModifiedError` when it changed and `ResourceNotFoundError` when it is gone.
        """
        entity = job_entity(job)
        self.index.write_ahead(job, previous=current.job)
        metadata = self._table.update_entity(
            entity, mode=UpdateMode.REPLACE, etag=current.etag, match_condition=MatchConditions.IfNotModified
        )
        self.index.settle(job, metadata["etag"], previous=current.job)
        return StoredJob(job, metadata["etag"])

    def delete(self, current: StoredJob) -> bool:
        """Deletes the job only if it is still at `current.etag`; False when it was already gone.

        Raises `ResourceModifiedError` when it changed.
        """
        key = current.job.key
        answer: dict[str, int] = {}
        self._table.delete_entity(
            key.partition_key,
            key.row_key,
            etag=current.etag,
            match_condition=MatchConditions.IfNotModified,
            # The SDK treats 404 as success; the status tells this delete from a concurrent one's.
            raw_response_hook=lambda response: answer.update(status=response.http_response.status_code),
        )
        if answer.get("status") == 404:
            return False
        self.index.forget(current.job)
        return True

    def delete_versions(self, versions: list[tuple[str, str, str]]) -> tuple[list[int], list[int], list[int]]:
        """Deletes jobs, each only at the given (partition key, row key, ETag), in transactions per partition.

        Returns the positions of the versions deleted, of those already gone,
        and of those that changed since. A transaction that fails is retried
        one job at a time, so one changed or vanished job never keeps the
        others from being deleted.
        """
        deleted: list[int] = []
        gone: list[int] = []
        changed: list[int] = []
        for chunk in chunks_by_partition(list(enumerate(versions)), lambda item: item[1][0]):
            try:
                self._table.submit_transaction([_conditional_delete(version) for _, version in chunk])
                deleted += [position for position, _ in chunk]
                continue
            except TableTransactionError:
                pass
            for position, version in chunk:
                try:
                    self._table.submit_transaction([_conditional_delete(version)])
                    deleted.append(position)
                except TableTransactionError as error:
                    (gone if error.status_code == 404 else changed).append(position)
        return deleted, gone, changed

    def get_version(self, partition_key: str, row_key: str) -> StoredJob | None:
        try:
            entity = self._table.get_entity(partition_key, row_key)
        except ResourceNotFoundError:
            return None
        return StoredJob(job_from_entity(entity), entity.metadata["etag"])

    def list(
        self, scope: Scope, top: int, skip_token: str | None, *, job_filter: JobFilter | None = None
    ) -> tuple[list[Job], str | None]:
        """One page of the jobs in `scope` that meet `job_filter`, in key order, and the token of the next page (or None).

        With a filter, Table Storage may answer fewer than `top` jobs (even none) and a continuation: the
        listing then gives out a next page for as long as storage does.
        """
        continuation = _decode_skip_token(skip_token, scope, job_filter)
        if job_filter is not None and job_filter.matches_nothing:
            return [], None
        conditions = ["PartitionKey eq @partition"]
        parameters = {"partition": scope.partition_key}
        prefix = scope.row_key_prefix
        if prefix is not None:
            # ':' + 1 is ';', so [prefix, upper) holds exactly the keys that start with prefix.
            conditions += ["RowKey ge @low", "RowKey lt @high"]
            parameters.update(low=prefix, high=prefix[:-1] + chr(ord(prefix[-1]) + 1))
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
        return jobs, _encode_skip_token(pages.continuation_token, scope, job_filter)


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
        "Properties": job.properties.model_dump_json(by_alias=True, exclude_none=True),
        **filter_columns(job),
    }
    for column in ("Tags", "Properties"):
        if len(entity[column]) > MAX_PROPERTY_CHARS:
            raise PayloadTooLarge(
                "RequestTooLarge",
                f"The job's {column.lower()} take {len(entity[column])} characters; the limit is {MAX_PROPERTY_CHARS}.",
            )
    return entity


def job_from_entity(entity: dict) -> Job:
    return Job(
        subscription_id=entity["SubscriptionId"],
        resource_group=entity["ResourceGroup"],
        name=entity["JobName"],
        location=entity["Location"],
        tags=json.loads(entity["Tags"]),
        properties=JobProperties.model_validate_json(entity["Properties"]),
    )


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
    invalid = BadRequest("InvalidSkipToken", "The $skipToken is not one this listing gave out; start the listing again.", "$skipToken")
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


def index_table_name(table_name: str) -> str:
    return table_name + "Expiry"


def _conditional_delete(version: tuple[str, str, str]) -> tuple:
    partition_key, row_key, etag = version
    return ("delete", {"PartitionKey": partition_key, "RowKey": row_key}, {"etag": etag, "match_condition": MatchConditions.IfNotModified})


@functools.cache
def _store_for(connection: str, table_name: str) -> JobStore:
    return JobStore.connect(connection, table_name)


def forget_store() -> None:
    """Forget the settings and the store built from them; the next `get_store` reads the settings again."""
    load_settings.cache_clear()
    _store_for.cache_clear()
    log_requests.cache_clear()


def get_store() -> JobStore:
    """The process's one store (one client, one connection pool; the table is created once)."""
    settings = load_settings()
    log_requests(settings.log_storage_requests)
    return _store_for(settings.storage_connection, settings.table_name)
