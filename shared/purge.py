"""The retention purge (rule 6 of docs/contract.md): deletes the jobs whose retention ran out, and nothing else.

It reads the expiry directory for the subscriptions that have entries whose
clock started before the cutoff, then, in each, only those entries (one
key-range query per clock), so its cost follows the number of expired jobs,
not the size of the table. Each job goes with its entry in one transaction
conditional on the entry's ETag: a job written since the entry was read is
never deleted. Safe to run twice at once, after a crash half-way, or late;
each run stops at its time budget and the next one continues.

Also a command: `python -m shared.purge [--dry-run] [--as-of TIME]`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from azure.core.exceptions import AzureError, HttpResponseError

from .clock import Clock, FixedClock, SystemClock, TimeOutOfRange, to_utc
from .expiry_index import DirectoryDrop, DirectoryRow, ExpiryEntry, droppable_before
from .models import JobState
from .settings import SettingsError, load_settings
from .state_machine import ExpiryClock, Retention
from .store import JOBS_PER_PURGE_TRANSACTION, JobStore, PurgeOutcome, get_store

log = logging.getLogger("importexport.purge")

# A directory row written this recently may belong to a job write still under way (its entry not yet written):
# the purge drops days only from older rows. A request's storage calls end within seconds (its deadline).
DIRECTORY_SETTLE = timedelta(hours=1)


@dataclass
class PurgeReport:
    as_of: datetime
    dry_run: bool
    deleted: Counter = field(default_factory=Counter)
    entries_read: int = 0
    directory_rows_read: int = 0
    changed_since_read: int = 0
    complete: bool = True
    seconds: float = 0.0

    @property
    def total_deleted(self) -> int:
        return sum(self.deleted.values())

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
        if not self.complete:
            text += "; stopped at the time budget, the next run continues"
        return text


@dataclass
class _Due:
    """What one subscription's partition has to purge: the clocks with days due, and the rows that listed them."""

    clocks: set[ExpiryClock] = field(default_factory=set)
    rows: list[DirectoryRow] = field(default_factory=list)


class Purge:
    def __init__(
        self,
        store: JobStore,
        retention: Retention,
        clock: Clock,
        budget: timedelta,
        *,
        dry_run: bool = False,
        on_job: Callable[[JobState, str], None] | None = None,
        directory_settle: timedelta = DIRECTORY_SETTLE,
    ) -> None:
        self._store = store
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
        cutoffs = {clock: self._retention.cutoff(clock, now) for clock in ExpiryClock}
        due: dict[str, _Due] = {}
        for clock, cutoff in cutoffs.items():
            cutoff_day = cutoff.astimezone(timezone.utc).date()
            for rows in self._store.directory.rows_through(clock, cutoff_day):
                report.directory_rows_read += len(rows)
                for row in rows:
                    if row.days_through(cutoff_day):
                        partition = due.setdefault(row.partition_key, _Due())
                        partition.clocks.add(clock)
                        partition.rows.append(row)
        emptied: list[DirectoryDrop] = []
        for partition_key, work in due.items():
            changed = self._purge_partition(partition_key, work, cutoffs, report, deadline)
            if changed is None:
                report.complete = False
                break
            emptied += self._emptied_days(work.rows, changed, cutoffs)
        if emptied and not self._dry_run:
            self._store.directory.drop_days(emptied)
        report.seconds = time.monotonic() - started
        return report

    def _purge_partition(
        self, partition_key: str, work: _Due, cutoffs: dict[ExpiryClock, datetime], report: PurgeReport, deadline: float
    ) -> list[ExpiryEntry] | None:
        """Purges one subscription's expired entries a transaction at a time: the entries that changed and stay, or
        None when the budget ran out first (its days stay in the directory, and the next run continues)."""
        changed: list[ExpiryEntry] = []
        pending: list[ExpiryEntry] = []  # full transactions across pages and clocks: the fewest requests
        for clock in sorted(work.clocks):
            for page in self._store.expired_entries(partition_key, clock, cutoffs[clock]):
                report.entries_read += len(page)
                pending += _expired_only(page, cutoffs)
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
        self, partition_key: str, entries: list[ExpiryEntry], cutoffs: dict[ExpiryClock, datetime], report: PurgeReport
    ) -> list[ExpiryEntry]:
        """Deletes the entries' jobs (or, in a dry run, reports them); returns the ones that changed and stay."""
        if self._dry_run:
            for entry in entries:
                self._record(entry, report)
            return []
        result = self._store.delete_expired(partition_key, entries)
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
        self, partition_key: str, entry: ExpiryEntry, cutoffs: dict[ExpiryClock, datetime], report: PurgeReport
    ) -> bool:
        """A job written since its entry was read: True when its entry, read again, is still expired and it went.

        A retagged finished job keeps its clock (and its entry's key), so it still goes; one whose clock moved has
        a new entry elsewhere, judged when its time comes. One more change meanwhile leaves it to the next run.
        """
        current = self._store.get_entry(partition_key, entry.row_key)
        report.entries_read += 1
        if current is None or not _expired_only([current], cutoffs):
            return current is None
        if self._store.delete_one_expired(partition_key, current) == PurgeOutcome.DELETED:
            self._record(current, report)
            return True
        return False

    def _emptied_days(
        self, rows: list[DirectoryRow], changed: list[ExpiryEntry], cutoffs: dict[ExpiryClock, datetime]
    ) -> list[DirectoryDrop]:
        """The days before the cutoff's day that this run emptied, in rows old enough to be settled: to drop."""
        still_there = {(entry.clock, entry.day) for entry in changed}
        settled_before = datetime.now(timezone.utc) - self._directory_settle
        writers_may_skip = droppable_before(self._clock.now().astimezone(timezone.utc).date())
        drops = []
        for row in rows:
            last_day = min(cutoffs[row.clock].astimezone(timezone.utc).date(), writers_may_skip)
            # Every entry of a day before the cutoff's day is expired, so the query read them all; the ones that
            # changed since may still be there (a retagged finished job keeps its day).
            emptied = frozenset(day for day in row.days if day < last_day and (row.clock, day) not in still_there)
            if emptied and row.written_at < settled_before:
                drops.append(DirectoryDrop(row, emptied))
        return drops

    def _record(self, entry: ExpiryEntry, report: PurgeReport) -> None:
        report.deleted[entry.state.value] += 1
        self._on_job(entry.state, entry.resource_id)


def _expired_only(page: list[ExpiryEntry], cutoffs: dict[ExpiryClock, datetime]) -> list[ExpiryEntry]:
    """The entries whose own clock start is before their clock's cutoff: never delete on the index's key order alone."""
    expired = []
    for entry in page:
        if entry.started < cutoffs[entry.clock]:
            expired.append(entry)
        else:
            log.error(
                "index entry %s (clock started %s) was read as expired before %s; kept",
                entry.resource_id,
                entry.started,
                cutoffs[entry.clock],
            )
    return expired


def purge_from_settings(clock: Clock | None = None, dry_run: bool = False, on_job=None) -> PurgeReport:
    """One purge run with the app's settings: what the timer and the command run."""
    settings = load_settings()
    purge = Purge(
        get_store(),
        settings.retention,
        clock or SystemClock(),
        timedelta(seconds=settings.purge_time_budget_seconds),
        dry_run=dry_run,
        on_job=on_job,
    )
    return purge.run()


def is_refused_credential(error: AzureError) -> bool:
    return isinstance(error, HttpResponseError) and error.status_code in (401, 403)


def storage_failure(error: AzureError) -> str:
    """What went wrong with storage, in words: a refused credential is a setting to fix, not an outage to wait out."""
    if is_refused_credential(error):
        return f"the storage service refused the credentials ({error.status_code}); check the storage connection string"
    return f"the storage service did not answer ({type(error).__name__})"


def run_storage_command(prog: str, work: Callable[[], object], *, unfinished: str) -> int:
    """A command's run over storage: its summary and 0, or one line saying what stopped it and an exit code
    (1 storage did not answer, 2 settings or credentials to fix, 130 interrupted); never a stack trace."""
    try:
        report = work()
    except SettingsError as error:
        print(f"{prog}: the app settings are not usable: {error}", file=sys.stderr)
        return 2
    except AzureError as error:
        print(f"{prog}: {storage_failure(error)}; {unfinished}", file=sys.stderr)
        return 2 if is_refused_credential(error) else 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {unfinished}", file=sys.stderr)
        return 130
    print(report.summary())
    return 0


def _utc_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text[:-1] + "Z" if text[-1:] == "z" else text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from error
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time zone (Z for UTC): {text!r}")
    try:
        return to_utc(moment)
    except TimeOutOfRange as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.purge",
        description="Delete the Import/Export jobs whose retention ran out (rule 6 of the contract, docs/contract.md).",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    parser.add_argument("--as-of", type=_utc_time, help="judge expiry at this ISO-8601 time instead of now")
    args = parser.parse_args(argv)
    now = datetime.now(timezone.utc)
    if args.as_of is not None and args.as_of > now and not args.dry_run:
        parser.error("--as-of in the future would delete jobs that have not expired yet; add --dry-run to preview it")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    verb = "would delete" if args.dry_run else "deleted"
    return run_storage_command(
        parser.prog,
        lambda: purge_from_settings(
            clock=FixedClock(args.as_of) if args.as_of else None,
            dry_run=args.dry_run,
            on_job=lambda state, resource_id: print(f"{verb} {state.value} {resource_id}", flush=True),
        ),
        unfinished="nothing more was purged",
    )


if __name__ == "__main__":
    sys.exit(main())
