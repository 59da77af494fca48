"""The job store: jobs as entities of one Azure Table, every write conditional on the entity's ETag.

Partition key: the subscription (lower case). Row key: `{resource group}:{job}`
(lower case), so a subscription is one partition and a resource group one
key range of it; listing never scans the table.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from .errors import BadRequest
from .models import Job, JobProperties
from .names import JobKey, Scope
from .settings import load_settings

# A string property of a table entity holds at most 64 KiB of UTF-16, i.e. 32K characters.
MAX_PROPERTY_CHARS = 32_000

# azure-core's retry policy and transport timeouts: a storage outage answers in seconds, not minutes.
CLIENT_OPTIONS = {
    "retry_total": 3,
    "retry_backoff_factor": 0.3,
    "retry_backoff_max": 2,
    "connection_timeout": 3,
    "read_timeout": 10,
}


@dataclass(frozen=True)
class StoredJob:
    job: Job
    etag: str


class JobStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, key: JobKey) -> StoredJob | None:
        try:
            entity = self._table.get_entity(key.partition_key, key.row_key)
        except ResourceNotFoundError:
            return None
        return StoredJob(_job_from_entity(entity), entity.metadata["etag"])

    def insert(self, job: Job) -> StoredJob:
        """Adds a new job; raises `ResourceExistsError` when one with its key exists."""
        metadata = self._table.create_entity(_entity_from_job(job))
        return StoredJob(job, metadata["etag"])

    def replace(self, job: Job, etag: str) -> StoredJob:
        """Writes `job` over the stored one only if that is still at `etag`.

        Raises `ResourceModifiedError` when it changed and `ResourceNotFoundError` when it is gone.
        """
        metadata = self._table.update_entity(
            _entity_from_job(job), mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
        )
        return StoredJob(job, metadata["etag"])

    def delete(self, key: JobKey, etag: str) -> None:
        """Deletes the job only if it is still at `etag`; raises `ResourceModifiedError` when it changed."""
        self._table.delete_entity(
            key.partition_key, key.row_key, etag=etag, match_condition=MatchConditions.IfNotModified
        )

    def list(self, scope: Scope, top: int, skip_token: str | None) -> tuple[list[Job], str | None]:
        """One page of the jobs in `scope`, in key order, and the token of the next page (or None)."""
        conditions = ["PartitionKey eq @partition"]
        parameters = {"partition": scope.partition_key}
        prefix = scope.row_key_prefix
        if prefix is not None:
            # ':' + 1 is ';', so [prefix, upper) holds exactly the keys that start with prefix.
            conditions += ["RowKey ge @low", "RowKey lt @high"]
            parameters.update(low=prefix, high=prefix[:-1] + chr(ord(prefix[-1]) + 1))
        pages = self._table.query_entities(
            " and ".join(conditions), parameters=parameters, results_per_page=top
        ).by_page(continuation_token=_decode_skip_token(skip_token, scope))
        page = next(pages, [])
        jobs = [_job_from_entity(entity) for entity in page]
        return jobs, _encode_skip_token(pages.continuation_token)


def _entity_from_job(job: Job) -> dict:
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
    }
    for column in ("Tags", "Properties"):
        if len(entity[column]) > MAX_PROPERTY_CHARS:
            raise BadRequest(
                "RequestTooLarge",
                f"The job's {column.lower()} take {len(entity[column])} characters; the limit is {MAX_PROPERTY_CHARS}.",
            )
    return entity


def _job_from_entity(entity: dict) -> Job:
    return Job(
        subscription_id=entity["SubscriptionId"],
        resource_group=entity["ResourceGroup"],
        name=entity["JobName"],
        location=entity["Location"],
        tags=json.loads(entity["Tags"]),
        properties=JobProperties.model_validate_json(entity["Properties"]),
    )


def _encode_skip_token(continuation: dict | None) -> str | None:
    if not continuation:
        return None
    raw = json.dumps(continuation, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_skip_token(token: str | None, scope: Scope) -> dict | None:
    if token is None:
        return None
    invalid = BadRequest("InvalidSkipToken", "The $skipToken is not one this API gave out; start the listing again.", "$skipToken")
    try:
        continuation = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as error:
        raise invalid from error
    if (
        not isinstance(continuation, dict)
        or set(continuation) != {"PartitionKey", "RowKey"}
        or not all(value is None or (isinstance(value, str) and len(value) <= 2048) for value in continuation.values())
    ):
        raise invalid
    return continuation


@functools.cache
def _store_for(connection: str, table_name: str) -> JobStore:
    service = TableServiceClient.from_connection_string(connection, **CLIENT_OPTIONS)
    try:
        service.create_table(table_name)
    except ResourceExistsError:
        pass
    return JobStore(service.get_table_client(table_name))


def get_store() -> JobStore:
    """The process's one store (one client, one connection pool; the table is created once)."""
    settings = load_settings()
    return _store_for(settings.storage_connection, settings.table_name)
