"""How a job is written as a table entity, and read back: its keys, its columns, and the layout version.

Partition key: the subscription (its case key). Row key: `{resource group}:{job}` (case keys), so a subscription
is one partition and a resource group one key range of it. The job's tags and properties are JSON columns; the
columns a `$filter` compares (`FILTER_COLUMNS`) are written beside them, in the forms that make the comparison
exact in the table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from azure.data.tables import TableEntity

from ..domain.job import Job, JobProperties
from ..domain.job_filter import FilterField, JobFilter
from ..domain.names import case_key
from ..domain.store import StoredJob
from .directory import DIRECTORY_PREFIX
from .expiry_index import ENTRY_PREFIX
from .sizes import check_property_sizes

# Written on every job: its expiry entry, if it has one, is beside it. Jobs written before (layout 1) kept their
# entries in a table of their own; `python -m shared.migrate` moves them.
LAYOUT = 2
# Layout 2 keeps a job's properties under a new column name. An app of layout 1, still running during a deploy or
# after a rollback, reads "Properties": it cannot read a layout 2 job, so it cannot write one either, and a write that
# left the entry beside it behind would let the purge delete the job on the entry's word (the entry's ETag names the
# job's version only while every writer rewrites the entry).
PROPERTIES_COLUMN = "JobProperties"
LAYOUT_1_PROPERTIES_COLUMN = "Properties"

# The column each filter field compares (written by `filter_columns`).
FILTER_COLUMNS = {FilterField.TYPE: "JobType", FilterField.TRACKING_NUMBER: "TrackingNumber", FilterField.STATE: "State"}


@dataclass(frozen=True)
class TableStoredJob(StoredJob):
    """A job as the table holds it: whether its expiry entry is beside it, and that entry's ETag after a write."""

    # False for a job written by the previous layout: it has no entry beside it yet.
    entry_beside: bool = True
    # The ETag of its expiry entry, when this write gave it one: the purge's handle on this very version.
    entry_etag: str | None = None


def job_entity(job: Job, *, headroom: int = 0) -> dict[str, Any]:
    """The entity of `job`; a job whose tags or properties do not fit a column (less `headroom`) is `RequestTooLarge`."""
    key = job.key
    entity: dict[str, Any] = {
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
    check_property_sizes(entity, names={"Tags": "tags", PROPERTIES_COLUMN: "properties"}, headroom=headroom)
    return entity


class UnreadableJob(Exception):
    """A row among the jobs that this app cannot read as a job (a column missing, or not what it wrote): damage no
    write of the app makes, for an operator to repair or delete."""

    def __init__(self, partition_key: str, row_key: str, reason: str) -> None:
        super().__init__(f"the job row {partition_key}/{row_key} cannot be read ({reason})")
        self.partition_key, self.row_key, self.reason = partition_key, row_key, reason


def job_from_entity(entity: Mapping[str, Any]) -> Job:
    """The job an entity holds; `UnreadableJob` when it holds none this app can read."""
    try:
        return Job(
            subscription_id=entity["SubscriptionId"],
            resource_group=entity["ResourceGroup"],
            name=entity["JobName"],
            location=entity["Location"],
            tags=json.loads(entity["Tags"]),
            properties=JobProperties.model_validate_json(entity[_properties_column(entity)]),
        )
    except (KeyError, TypeError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        raise UnreadableJob(str(entity.get("PartitionKey")), str(entity.get("RowKey")), reason) from error


def stored_job(entity: TableEntity) -> TableStoredJob:
    """The job an entity read from the table holds, with its ETag (a `TableEntity`'s metadata)."""
    etag = cast(str, entity.metadata["etag"])  # None only in an entity made, not read
    return TableStoredJob(job_from_entity(entity), etag, entity_layout(entity) >= LAYOUT)


def entity_layout(entity: Mapping[str, Any]) -> int:
    """The layout the entity was written in (1 when it says none); a damaged row's may be of any type."""
    layout: int = entity.get("Layout", 1)
    return layout


def _properties_column(entity: Mapping[str, Any]) -> str:
    return PROPERTIES_COLUMN if entity_layout(entity) >= LAYOUT else LAYOUT_1_PROPERTIES_COLUMN


def is_index_row(entity: Mapping[str, Any]) -> bool:
    """An expiry entry or directory row of the current layout, beside the jobs: not a job."""
    index_row: bool = entity["PartitionKey"].startswith(DIRECTORY_PREFIX) or entity["RowKey"].startswith(ENTRY_PREFIX)
    return index_row


def filter_columns(job: Job) -> dict[str, str]:
    """The columns a job's entity carries for filtering; a field the job lacks has no column (and matches nothing)."""
    columns = {FILTER_COLUMNS[FilterField.STATE]: job.state.value}
    if job.properties.job_type is not None:
        columns[FILTER_COLUMNS[FilterField.TYPE]] = job.properties.job_type
    package = job.properties.delivery_package
    if package is not None:
        columns[FILTER_COLUMNS[FilterField.TRACKING_NUMBER]] = case_key(package.tracking_number)
    return columns


def column_values(job_filter: JobFilter) -> dict[str, str]:
    """Each condition as column -> value, once per column (a repeated equal condition adds nothing)."""
    return {FILTER_COLUMNS[condition.field]: condition.value for condition in job_filter.conditions}
