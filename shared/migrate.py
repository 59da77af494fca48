"""Brings jobs written by earlier versions of the app to the current layout.

Every job write stores the filter columns (`filters.filter_columns`) and its
expiry entry beside the job (`expiry_index`, layout 2). A job written by an
older version has no columns, so no filter finds it, and its entry lives in
the old index table (`<table>Expiry`), which the purge no longer reads. This
rewrites each such job through the store's own conditional replace, which
writes the columns and the entry with the job in one transaction, conditional
on the ETag read: a job changed meanwhile is read again and, when its own
write already brought it up to date, left alone. Nothing is deleted; the old
index table is left for the operator to delete. Running it again finds
nothing to do.

A command: `python -m shared.migrate [--dry-run]`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass

from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from pydantic import ValidationError

from .expiry_index import DIRECTORY_PREFIX, ENTRY_PREFIX
from .filters import FILTER_COLUMNS, filter_columns
from .purge import run_storage_command
from .store import LAYOUT, JobStore, get_store, stored_job

log = logging.getLogger("importexport.migrate")

# A job rewritten this many times by others while the migration tries to give it its columns is left for a
# later run (any write by this version of the app gives it the columns anyway).
MAX_ATTEMPTS = 5
JOBS_PER_PAGE = 200


@dataclass
class MigrationReport:
    dry_run: bool
    examined: int = 0
    rewritten: int = 0
    already_current: int = 0
    raced: int = 0
    gone: int = 0
    unreadable: int = 0
    left_for_next_run: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        verb = "would bring" if self.dry_run else "brought"
        return (
            f"migrate: examined {self.examined} jobs in {self.seconds:.2f} s; {verb} {self.rewritten} to the current layout; "
            f"{self.already_current} already were; {self.raced} changed meanwhile and were read again; "
            f"{self.gone} were deleted meanwhile; {self.unreadable} could not be read; "
            f"{self.left_for_next_run} left for the next run"
        )


def needs_rewrite(entity: dict, stored) -> bool:
    """Whether the job was written by an earlier layout, or its filter columns differ from what a write stores."""
    expected = filter_columns(stored.job)
    return entity.get("Layout", 1) < LAYOUT or any(entity.get(column) != expected.get(column) for column in FILTER_COLUMNS)


def is_index_row(entity: dict) -> bool:
    """An expiry entry or directory row of the current layout, beside the jobs: not a job."""
    return entity["PartitionKey"].startswith(DIRECTORY_PREFIX) or entity["RowKey"].startswith(ENTRY_PREFIX)


def migrate(store: JobStore, *, dry_run: bool = False) -> MigrationReport:
    """Adds the filter columns to every job of the store's table that lacks them."""
    started = time.monotonic()
    report = MigrationReport(dry_run=dry_run)
    # The one whole-table read in the service: a one-off pass over every job, a page at a time.
    for page in store.table.list_entities(results_per_page=JOBS_PER_PAGE).by_page():
        for entity in page:
            if is_index_row(entity):
                continue
            report.examined += 1
            _migrate_job(store, entity, dry_run, report)
    report.seconds = time.monotonic() - started
    return report


def _migrate_job(store: JobStore, entity: dict, dry_run: bool, report: MigrationReport) -> None:
    for _attempt in range(MAX_ATTEMPTS):
        try:
            current = stored_job(entity)
            outdated = needs_rewrite(entity, current)
        except (KeyError, TypeError, ValueError, ValidationError):
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
        try:
            entity = store.table.get_entity(entity["PartitionKey"], entity["RowKey"])
        except ResourceNotFoundError:
            report.gone += 1
            return
    log.warning("job %s/%s kept changing; the next run migrates it", entity["PartitionKey"], entity["RowKey"])
    report.left_for_next_run += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.migrate",
        description="Bring jobs written by earlier versions to the current layout: filter columns, expiry entry beside"
        " the job (idempotent; deletes nothing).",
    )
    parser.add_argument("--dry-run", action="store_true", help="count the jobs to bring up to date; write nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run_storage_command(
        parser.prog, lambda: migrate(get_store(), dry_run=args.dry_run), unfinished="run it again to finish"
    )


if __name__ == "__main__":
    sys.exit(main())
