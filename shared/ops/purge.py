"""The retention purge (rule 6 of docs/contract.md): deletes the jobs whose retention ran out, and nothing else.

It reads the expiry directory for the subscriptions that have entries whose
countdown started before the cutoff, then, in each, only those entries (one
key-range query per kind), so its cost follows the number of expired jobs,
not the size of the table. Each job goes with its entry in one transaction
conditional on the entry's ETag: a job written since the entry was read is
never deleted. Safe to run twice at once, after a crash half-way, or late;
each run stops at its time budget and the next one continues.

The command `python -m shared.purge` and the timer `purge_timer` run it, built by the composition root
(`shared.app.App.purge`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from ..domain.clock import Clock
from ..domain.job import JobState
from ..domain.retention import DELETION_KINDS, ExpiryKind, Retention
from ..storage.directory import DirectoryDrop, DirectoryPage, DirectoryRow, droppable_before
from ..storage.expiry_index import JOBS_PER_PURGE_TRANSACTION, DamagedRow, EntryPage, ExpiryEntry, PurgeOutcome, PurgeResult

log = logging.getLogger("importexport.purge")

# A directory row written this recently may belong to a job write still under way (its entry not yet written):
# the purge drops days only from older rows. A request's storage calls end within seconds (its deadline).
DIRECTORY_SETTLE = timedelta(hours=1)


class ExpiredEntries(Protocol):
    """The index as the purge uses it (`shared.storage.expiry_index.ExpiryIndex`)."""

    def expired_entries(self, partition_key: str, kind: ExpiryKind, cutoff: datetime) -> Iterator[EntryPage]: ...

    def get_entry(self, partition_key: str, row_key: str) -> ExpiryEntry | DamagedRow | None: ...

    def delete_expired(self, partition_key: str, entries: list[ExpiryEntry]) -> PurgeResult: ...

    def delete_one_expired(self, partition_key: str, entry: ExpiryEntry) -> PurgeOutcome: ...


class DaysWithEntries(Protocol):
    """The directory as the purge uses it (`shared.storage.directory.ExpiryDirectory`)."""

    def rows_through(self, kind: ExpiryKind, last: date) -> Iterator[DirectoryPage]: ...

    def drop_days(self, drops: list[DirectoryDrop]) -> None: ...


@dataclass
class PurgeReport:
    """What one run did: the jobs it deleted by state, what it read, and whether it finished before its budget."""

    as_of: datetime
    dry_run: bool
    deleted: Counter[str] = field(default_factory=Counter)
    entries_read: int = 0
    directory_rows_read: int = 0
    changed_since_read: int = 0
    # Rows of the index or directory it could not read: skipped (each logged with its keys), never acted on.
    skipped: list[DamagedRow] = field(default_factory=list)
    complete: bool = True
    seconds: float = 0.0

    @property
    def total_deleted(self) -> int:
        return sum(self.deleted.values())

    def problems(self) -> int:
        """Rows it skipped because it could not read them: the command's exit says so."""
        return len(self.skipped)

    @property
    def entities_read(self) -> int:
        return self.entries_read + self.directory_rows_read

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        by_state = ", ".join(f"{state} {count}" for state, count in sorted(self.deleted.items())) or "none"
        text = (
            f"purge as of {self.as_of.isoformat()}: {verb} {self.total_deleted} jobs ({by_state}) "
            f"in {self.seconds:.2f} s; read {self.directory_rows_read} directory rows and {self.entries_read} index entries; "
            f"kept {self.changed_since_read} jobs changed since their entries were read"
        )
        if self.skipped:
            text += f"; skipped {len(self.skipped)} rows it could not read (logged with their keys)"
        if not self.complete:
            text += "; stopped at the time budget, the next run continues"
        return text


@dataclass
class _Due:
    """What one subscription's partition has to purge: the kinds with days due, the rows that listed them, and the
    kinds in which it met a row it could not read (whose days it keeps)."""

    kinds: set[ExpiryKind] = field(default_factory=set)
    rows: list[DirectoryRow] = field(default_factory=list)
    damaged_kinds: set[ExpiryKind] = field(default_factory=set)


class Purge:
    """One run of the purge over the `index` and `directory` of a jobs table, judging expiry at `clock`'s time, within
    `budget`; `on_job` hears of each job it deletes (or, with `dry_run`, would delete)."""

    def __init__(
        self,
        index: ExpiredEntries,
        directory: DaysWithEntries,
        retention: Retention,
        clock: Clock,
        budget: timedelta,
        *,
        dry_run: bool = False,
        on_job: Callable[[JobState, str], None] | None = None,
        directory_settle: timedelta = DIRECTORY_SETTLE,
    ) -> None:
        self._index = index
        self._directory = directory
        self._retention = retention
        self._clock = clock
        self._budget = budget.total_seconds()
        self._dry_run = dry_run
        self._on_job = on_job or (lambda state, resource_id: None)
        self._directory_settle = directory_settle

    def run(self) -> PurgeReport:
        started = time.monotonic()
        deadline = started + self._budget
        now = self._clock.now()
        report = PurgeReport(as_of=now, dry_run=self._dry_run)
        cutoffs = {kind: self._retention.cutoff(kind, now) for kind in DELETION_KINDS}
        due: dict[str, _Due] = {}
        for kind, cutoff in cutoffs.items():
            cutoff_day = cutoff.astimezone(timezone.utc).date()
            for page in self._directory.rows_through(kind, cutoff_day):
                report.directory_rows_read += len(page.rows)
                skip(page.damaged, report)
                for row in page.rows:
                    if row.days_through(cutoff_day):
                        partition = due.setdefault(row.partition_key, _Due())
                        partition.kinds.add(kind)
                        partition.rows.append(row)
        emptied: list[DirectoryDrop] = []
        for partition_key, work in due.items():
            changed = self._purge_partition(partition_key, work, cutoffs, report, deadline)
            if changed is None:
                report.complete = False
                break
            emptied += self._emptied_days([row for row in work.rows if row.kind not in work.damaged_kinds], changed, cutoffs)
        if emptied and not self._dry_run:
            self._directory.drop_days(emptied)
        report.seconds = time.monotonic() - started
        return report

    def _purge_partition(
        self, partition_key: str, work: _Due, cutoffs: dict[ExpiryKind, datetime], report: PurgeReport, deadline: float
    ) -> list[ExpiryEntry] | None:
        """Purges one subscription's expired entries a transaction at a time: the entries that changed and stay, or
        None when the budget ran out first (its days stay in the directory, and the next run continues)."""
        changed: list[ExpiryEntry] = []
        pending: list[ExpiryEntry] = []  # full transactions across pages and kinds: the fewest requests
        for kind in sorted(work.kinds):
            for page in self._index.expired_entries(partition_key, kind, cutoffs[kind]):
                report.entries_read += len(page.entries) + len(page.damaged)
                if page.damaged:
                    skip(page.damaged, report)
                    work.damaged_kinds.add(kind)
                pending += _expired_only(page.entries, cutoffs)
                while len(pending) >= JOBS_PER_PURGE_TRANSACTION:
                    if time.monotonic() > deadline:
                        return None
                    changed += self._delete(partition_key, pending[:JOBS_PER_PURGE_TRANSACTION], cutoffs, report)
                    pending = pending[JOBS_PER_PURGE_TRANSACTION:]
        if pending:
            if time.monotonic() > deadline:
                return None
            changed += self._delete(partition_key, pending, cutoffs, report)
        return changed

    def _delete(
        self, partition_key: str, entries: list[ExpiryEntry], cutoffs: dict[ExpiryKind, datetime], report: PurgeReport
    ) -> list[ExpiryEntry]:
        """Deletes the entries' jobs (or, in a dry run, reports them); returns the ones that changed and stay."""
        if self._dry_run:
            for entry in entries:
                self._record(entry, report)
            return []
        result = self._index.delete_expired(partition_key, entries)
        for entry in result.deleted:
            self._record(entry, report)
        changed = [
            entry
            for entry in result.by_outcome[PurgeOutcome.CHANGED]
            if not self._judge_again(partition_key, entry, cutoffs, report)
        ]
        report.changed_since_read += len(changed)
        return changed

    def _judge_again(
        self, partition_key: str, entry: ExpiryEntry, cutoffs: dict[ExpiryKind, datetime], report: PurgeReport
    ) -> bool:
        """A job written since its entry was read: True when its entry, read again, is still expired and it went.

        A retagged finished job keeps its countdown (and its entry's key), so it still goes; one whose countdown moved has
        a new entry elsewhere, judged when its time comes. One more change meanwhile leaves it to the next run.
        """
        current = self._index.get_entry(partition_key, entry.row_key)
        report.entries_read += 1
        if isinstance(current, DamagedRow):
            skip([current], report)
            return False
        if current is None or not _expired_only([current], cutoffs):
            return current is None
        if self._index.delete_one_expired(partition_key, current) == PurgeOutcome.DELETED:
            self._record(current, report)
            return True
        return False

    def _emptied_days(
        self, rows: list[DirectoryRow], changed: list[ExpiryEntry], cutoffs: dict[ExpiryKind, datetime]
    ) -> list[DirectoryDrop]:
        """The days before the cutoff's day that this run emptied, in rows old enough to be settled: to drop."""
        still_there = {(entry.kind, entry.day) for entry in changed}
        # A row's `written_at` is storage's own time of its last write, so its age is measured on the real clock,
        # not on `self._clock`, which a preview (`--as-of`) may set months away.
        settled_before = datetime.now(timezone.utc) - self._directory_settle
        writers_may_skip = droppable_before(self._clock.now().astimezone(timezone.utc).date())
        drops = []
        for row in rows:
            last_day = min(cutoffs[row.kind].astimezone(timezone.utc).date(), writers_may_skip)
            # Every entry of a day before the cutoff's day is expired, so the query read them all; the ones that
            # changed since may still be there (a retagged finished job keeps its day).
            emptied = frozenset(day for day in row.days if day < last_day and (row.kind, day) not in still_there)
            if emptied and row.written_at < settled_before:
                drops.append(DirectoryDrop(row, emptied))
        return drops

    def _record(self, entry: ExpiryEntry, report: PurgeReport) -> None:
        report.deleted[entry.state.value] += 1
        self._on_job(entry.state, entry.resource_id)


class SkipsRows(Protocol):
    """A run's report that counts the rows it skipped (the purge's, the cancel completion's)."""

    skipped: list[DamagedRow]


def skip(damaged: list[DamagedRow], report: SkipsRows, *, logger: logging.Logger = log) -> None:
    """Rows a run cannot read: logged with their keys and counted, so the rest of the run goes on."""
    for row in damaged:
        logger.error(
            "row %s/%s of the expiry index or directory cannot be read (%s); skipped", row.partition_key, row.row_key, row.reason
        )
    report.skipped += damaged


def _expired_only(page: list[ExpiryEntry], cutoffs: dict[ExpiryKind, datetime]) -> list[ExpiryEntry]:
    """The entries whose own countdown start is before their kind's cutoff: never delete on the index's key order alone."""
    expired = []
    for entry in page:
        if entry.started < cutoffs[entry.kind]:
            expired.append(entry)
        else:
            log.error(
                "index entry %s (countdown started %s) was read as expired before %s; kept",
                entry.resource_id,
                entry.started,
                cutoffs[entry.kind],
            )
    return expired
