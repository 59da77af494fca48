"""The completion of cancels recorded in Creating (rule 3 of docs/contract.md): the service's own move to Completed.

A cancel of a job in Creating is answered at once with the job still in Creating and its cancel recorded, as the
real service answers it. The job's expiry entry is then of the kind `cancel` (`ExpiryKind.CANCEL_PENDING`), due at
once. Every few seconds the timer `complete_cancels` runs this: it reads the directory's `cancel` rows for the
subscriptions that have such entries, then in each only those entries (one key-range query), and completes each
entry's job through the job service: a read, then one transaction conditional on the job's ETag that writes it
Completed and moves its entry to the `finished` countdown, so its retention counts from the completion. Whether a
job is completed is judged from the job as read, never from the entry: a job deleted, completed by the operator or
changed meanwhile is completed at most once, and nothing here deletes a job. Its cost follows the jobs due, plus one
entry query per subscription that cancelled in the last few minutes (until the directory forgets it).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from ..domain.errors import BadRequest, RequestTooLarge, ServiceUnavailable
from ..domain.jobs import CancelCompletion, JobService
from ..domain.names import JobKey
from ..domain.retention import ExpiryKind
from ..storage.directory import CANCEL_DIRECTORY_SETTLE, DirectoryDrop, DirectoryRow
from ..storage.entities import UnreadableJob
from ..storage.expiry_index import DamagedRow, EntryPage, ExpiryEntry
from .purge import DaysWithEntries, skip

log = logging.getLogger("importexport.cancels")

# A run stops starting completions after this long; the next run (seconds later) continues.
COMPLETION_TIME_BUDGET = timedelta(seconds=50)
KIND = ExpiryKind.CANCEL_PENDING


class PendingEntries(Protocol):
    """The index as the completion uses it (`shared.storage.expiry_index.ExpiryIndex`)."""

    def entries(self, partition_key: str, kind: ExpiryKind) -> Iterator[EntryPage]: ...


@dataclass
class CompletionReport:
    """What one run did: its jobs by outcome, what it read, and whether it finished before its budget."""

    outcomes: Counter[CancelCompletion] = field(default_factory=Counter)
    entries_read: int = 0
    directory_rows_read: int = 0
    # Rows it could not read (or entries naming no job): skipped, each logged with its keys, never acted on.
    skipped: list[DamagedRow] = field(default_factory=list)
    complete: bool = True
    seconds: float = 0.0

    @property
    def completed(self) -> int:
        return self.outcomes[CancelCompletion.COMPLETED]

    @property
    def unreadable_entries(self) -> int:
        return len(self.skipped)

    def problems(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        left = self.outcomes[CancelCompletion.LEFT] + self.unreadable_entries
        text = (
            f"cancel completion: completed {self.completed} jobs in {self.seconds:.2f} s; "
            f"{self.outcomes[CancelCompletion.NOT_PENDING]} had no cancel pending any more, "
            f"{self.outcomes[CancelCompletion.GONE]} were deleted first, {left} left for the next run; "
            f"read {self.directory_rows_read} directory rows and {self.entries_read} index entries"
        )
        if not self.complete:
            text += "; stopped at the time budget, the next run continues"
        return text


class CancelCompletions:
    """One run over the `index` and `directory` of a jobs table, completing pending cancels through `jobs`, within
    `budget`; `on_job` hears of each job it completes."""

    def __init__(
        self,
        index: PendingEntries,
        directory: DaysWithEntries,
        jobs: JobService,
        *,
        budget: timedelta = COMPLETION_TIME_BUDGET,
        on_job: Callable[[str], None] | None = None,
        directory_settle: timedelta = CANCEL_DIRECTORY_SETTLE,
    ) -> None:
        self._index = index
        self._directory = directory
        self._jobs = jobs
        self._budget = budget.total_seconds()
        self._on_job = on_job or (lambda resource_id: None)
        self._directory_settle = directory_settle

    def run(self) -> CompletionReport:
        started = time.monotonic()
        deadline = started + self._budget
        report = CompletionReport()
        by_partition: dict[str, list[DirectoryRow]] = {}
        # Every day: a pending cancel is due at once, whatever the clock of the instance that recorded it said.
        for page in self._directory.rows_through(KIND, date.max):
            report.directory_rows_read += len(page.rows)
            skip(page.damaged, report, logger=log)
            for row in page.rows:
                by_partition.setdefault(row.partition_key, []).append(row)
        drops: list[DirectoryDrop] = []
        for partition_key, rows in by_partition.items():
            if time.monotonic() > deadline:
                report.complete = False
                break
            left = self._complete_partition(partition_key, report, deadline)
            if left is None:
                if time.monotonic() > deadline:
                    report.complete = False
                    break
                continue  # a row it could not read: the subscription's days stay listed
            drops += self._emptied_days(rows, left)
        if drops:
            self._directory.drop_days(drops)
        report.seconds = time.monotonic() - started
        return report

    def _complete_partition(self, partition_key: str, report: CompletionReport, deadline: float) -> set[date] | None:
        """Completes one subscription's pending cancels: the days of the entries left pending, or None when the
        budget ran out first, or a row could not be read (its days stay in the directory, and the next run continues)."""
        left: set[date] = set()
        damaged = False
        for page in self._index.entries(partition_key, KIND):
            report.entries_read += len(page.entries) + len(page.damaged)
            skip(page.damaged, report, logger=log)
            damaged = damaged or bool(page.damaged)
            for entry in page.entries:
                if time.monotonic() > deadline:
                    return None
                outcome = self._complete(partition_key, entry, report)
                if outcome is CancelCompletion.LEFT:
                    left.add(entry.day)
        return None if damaged else left

    def _complete(self, partition_key: str, entry: ExpiryEntry, report: CompletionReport) -> CancelCompletion:
        try:
            key = JobKey.from_resource_id(entry.resource_id)
        except BadRequest:
            # Damage no write of ours makes: kept for an operator to look at, and never completed on a guess.
            skip(
                [DamagedRow(partition_key, entry.row_key, f"an entry naming no job ({entry.resource_id[:200]!r})")],
                report,
                logger=log,
            )
            return CancelCompletion.LEFT
        try:
            outcome = self._jobs.complete_cancel(key)
        except ServiceUnavailable:  # writers kept colliding on it: the next run tries again
            outcome = CancelCompletion.LEFT
        except (UnreadableJob, RequestTooLarge) as error:
            # A job it cannot read, or one that no longer fits (written before room was kept): kept for an operator,
            # and the other jobs still completed.
            reason = error.reason if isinstance(error, UnreadableJob) else error.message
            skip([DamagedRow(partition_key, entry.job_row_key, reason)], report, logger=log)
            return CancelCompletion.LEFT
        report.outcomes[outcome] += 1
        if outcome is CancelCompletion.COMPLETED:
            self._on_job(entry.resource_id)
        return outcome

    def _emptied_days(self, rows: list[DirectoryRow], left: set[date]) -> list[DirectoryDrop]:
        """The days this run emptied, in rows old enough to be settled: to drop. The run read every pending entry
        of the partition, so a day without one left is empty, unless a writer is noting it now (the settle)."""
        # A row's `written_at` is storage's own time of its last write, so its age is measured on the real clock.
        settled_before = datetime.now(timezone.utc) - self._directory_settle
        drops = []
        for row in rows:
            emptied = row.days - left
            if emptied and row.written_at < settled_before:
                drops.append(DirectoryDrop(row, frozenset(emptied)))
        return drops
