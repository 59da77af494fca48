"""Brings jobs written by earlier versions of the app to the current layout.

Every job write stores the filter columns (`shared.storage.entities.filter_columns`)
and its expiry entry beside the job (`shared.storage.expiry_index`, layout 2). A job written by an
older version has no columns, so no filter finds it, and its entry lives in
the old index table (`<table>Expiry`), which the purge no longer reads. This
rewrites each such job through the store's own conditional replace, which
writes the columns and the entry with the job in one transaction, conditional
on the ETag read: a job changed meanwhile is read again and, when its own
write already brought it up to date, left alone. Nothing is deleted; the old
index table is left for the operator to delete. Running it again finds
nothing to do.

The command `python -m shared.migrate [--dry-run]` runs it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity
from pydantic import ValidationError

from ..domain.errors import RequestTooLarge
from ..domain.store import JobStore, StoredJob
from ..storage.entities import (
    FILTER_COLUMNS,
    LAYOUT,
    UnreadableJob,
    entity_layout,
    filter_columns,
    is_index_row,
    stored_job,
)

log = logging.getLogger("importexport.migrate")

# A job rewritten this many times by others while the migration tries to give it its columns is left for a
# later run (any write by this version of the app gives it the columns anyway).
MAX_ATTEMPTS = 5
JOBS_PER_PAGE = 200


@dataclass
class MigrationReport:
    """What one run did: the jobs it examined, by what became of them."""

    dry_run: bool
    examined: int = 0
    rewritten: int = 0
    already_current: int = 0
    raced: int = 0
    gone: int = 0
    unreadable: int = 0
    unwritable: int = 0
    left_for_next_run: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        verb = "would bring" if self.dry_run else "brought"
        return (
            f"migrate: examined {self.examined} jobs in {self.seconds:.2f} s; {verb} {self.rewritten} to the current layout; "
            f"{self.already_current} already were; {self.raced} changed meanwhile and were read again; "
            f"{self.gone} were deleted meanwhile; {self.unreadable} could not be read; "
            f"{self.unwritable} could not be rewritten; {self.left_for_next_run} left for the next run"
        )

    def problems(self) -> int:
        """Rows it left as they were because it could not read or rewrite them (each logged with its keys)."""
        return self.unreadable + self.unwritable


def needs_rewrite(entity: Mapping[str, Any], stored: StoredJob) -> bool:
    """Whether the job was written by an earlier layout, or its filter columns differ from what a write stores."""
    expected = filter_columns(stored.job)
    return entity_layout(entity) < LAYOUT or any(entity.get(column) != expected.get(column) for column in FILTER_COLUMNS.values())


def migrate(table: TableClient, store: JobStore, *, dry_run: bool = False) -> MigrationReport:
    """Brings every job of `table` (the jobs table `store` writes) to the current layout."""
    started = time.monotonic()
    report = MigrationReport(dry_run=dry_run)
    # The one whole-table read in the service: a one-off pass over every job, a page at a time.
    for page in table.list_entities(results_per_page=JOBS_PER_PAGE).by_page():
        for entity in page:
            if is_index_row(entity):
                continue
            report.examined += 1
            _migrate_job(table, store, entity, dry_run, report)
    report.seconds = time.monotonic() - started
    return report


def _migrate_job(table: TableClient, store: JobStore, entity: TableEntity, dry_run: bool, report: MigrationReport) -> None:
    for _attempt in range(MAX_ATTEMPTS):
        try:
            current = stored_job(entity)
            outdated = needs_rewrite(entity, current)
        except (UnreadableJob, KeyError, TypeError, ValueError, ValidationError):
            # Not a job this app can read (a foreign or damaged row: a column missing or of another type): leave it
            # as it is, say so, and go on with the others.
            log.error("row %s/%s is not a readable job; left unchanged", entity.get("PartitionKey"), entity.get("RowKey"))
            report.unreadable += 1
            return
        if not outdated:
            report.already_current += 1
            return
        if dry_run:
            report.rewritten += 1
            return
        try:
            store.replace(current.job, current)
            report.rewritten += 1
            return
        except ResourceNotFoundError:
            report.gone += 1
            return
        except ResourceModifiedError:
            report.raced += 1
        except (RequestTooLarge, HttpResponseError) as error:
            # A job it can read but not write back (larger than a property may be, say): left as it is, said, and
            # the jobs after it still migrated; a storage outage (no answer) still stops the run.
            if isinstance(error, HttpResponseError) and not (error.status_code and 400 <= error.status_code < 500):
                raise
            reason = error.message if isinstance(error, RequestTooLarge) else f"storage refused it: {error.status_code}"
            log.error("job %s/%s cannot be rewritten (%s); left unchanged", entity["PartitionKey"], entity["RowKey"], reason)
            report.unwritable += 1
            return
        try:
            entity = table.get_entity(entity["PartitionKey"], entity["RowKey"])
        except ResourceNotFoundError:
            report.gone += 1
            return
    log.warning("job %s/%s kept changing; the next run migrates it", entity["PartitionKey"], entity["RowKey"])
    report.left_for_next_run += 1
