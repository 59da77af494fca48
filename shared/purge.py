"""The retention purge (rule 6): deletes the jobs whose retention ran out, and nothing else.

It reads only the expiry index entries whose clock started before the cutoff,
so its cost follows the number of expired jobs, not the size of the table.
Every job delete is conditional on the ETag of the version judged expired.
Safe to run twice at once, after a crash half-way, or late; each run stops at
its time budget and the next one continues.

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
from .expiry_index import IndexEntry, chunks_by_partition
from .models import JobState
from .settings import SettingsError, load_settings
from .state_machine import ExpiryClock, Retention, is_expired
from .store import JobStore, get_store

log = logging.getLogger("importexport.purge")

# An index entry younger than this may be the write-ahead of a job write still under way:
# it is not judged stale until every such write has surely ended (storage calls time out far sooner).
WRITE_GRACE = timedelta(minutes=15)


@dataclass
class PurgeReport:
    as_of: datetime
    dry_run: bool
    deleted: Counter = field(default_factory=Counter)
    stale_entries_removed: int = 0
    entries_read: int = 0
    jobs_read: int = 0
    complete: bool = True
    seconds: float = 0.0

    @property
    def total_deleted(self) -> int:
        return sum(self.deleted.values())

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        by_state = ", ".join(f"{state} {count}" for state, count in sorted(self.deleted.items())) or "none"
        text = (
            f"purge as of {self.as_of.isoformat()}: {verb} {self.total_deleted} jobs ({by_state}) "
            f"in {self.seconds:.2f} s; read {self.entries_read} index entries and {self.jobs_read} jobs; "
            f"removed {self.stale_entries_removed} stale index entries"
        )
        if not self.complete:
            text += "; stopped at the time budget, the next run continues"
        return text


class Purge:
    def __init__(
        self,
        store: JobStore,
        retention: Retention,
        clock: Clock,
        budget: timedelta,
        dry_run: bool = False,
        on_job: Callable[[JobState, str], None] | None = None,
    ) -> None:
        self._store = store
        self._retention = retention
        self._clock = clock
        self._budget = budget.total_seconds()
        self._dry_run = dry_run
        self._on_job = on_job or (lambda state, resource_id: None)

    def run(self) -> PurgeReport:
        started = time.monotonic()
        deadline = started + self._budget
        now = self._clock.now()
        report = PurgeReport(as_of=now, dry_run=self._dry_run)
        for clock in ExpiryClock:
            cutoff = self._retention.cutoff(clock, now)
            for page in self._store.index.expired_entries(clock, cutoff):
                report.entries_read += len(page)
                if not self._purge_page(_expired_only(page, cutoff), now, deadline, report):
                    report.complete = False
                    break
            if not report.complete:
                break
        report.seconds = time.monotonic() - started
        return report

    def _purge_page(self, page: list[IndexEntry], now: datetime, deadline: float, report: PurgeReport) -> bool:
        """Purges one page of entries, a job partition's transaction at a time; False when time ran out."""
        finished: list[IndexEntry] = []
        within_budget = True
        for chunk in chunks_by_partition(page, lambda entry: entry.job_partition_key):
            if time.monotonic() > deadline:
                within_budget = False
                break
            if self._dry_run:
                self._preview(chunk, now, report)
            else:
                finished += self._purge(chunk, now, report)
        if finished:
            self._store.index.remove(finished)
        return within_budget

    def _purge(self, entries: list[IndexEntry], now: datetime, report: PurgeReport) -> list[IndexEntry]:
        """Deletes the expired jobs of one partition; returns the entries that are done with (deleted or stale)."""
        # Entries that carry the ETag describe that very version of the job, which is expired: delete it unread.
        exact = [entry for entry in entries if entry.job_etag]
        deleted, gone, changed = self._store.delete_versions(
            [(entry.job_partition_key, entry.job_row_key, entry.job_etag) for entry in exact]
        )
        for position in deleted:
            self._record(exact[position].state, exact[position].resource_id, report)
        done = [exact[position] for position in deleted]
        stale = [exact[position] for position in gone]
        for entry in [exact[position] for position in changed] + [entry for entry in entries if not entry.job_etag]:
            outcome = self._check(entry, now, report)
            if outcome == "deleted":
                done.append(entry)
            elif outcome == "stale":
                stale.append(entry)
        report.stale_entries_removed += len(stale)
        return done + stale

    def _check(self, entry: IndexEntry, now: datetime, report: PurgeReport) -> str:
        """An entry that may not describe the job as it is: read the job and judge it by the rules."""
        current = self._store.get_version(entry.job_partition_key, entry.job_row_key)
        report.jobs_read += 1
        if current is not None and is_expired(current.job, now, self._retention):
            deleted, _, changed = self._store.delete_versions([(entry.job_partition_key, entry.job_row_key, current.etag)])
            if deleted:
                self._record(current.job.state, current.job.key.resource_id, report)
                return "deleted"
            return "keep" if changed else "stale"
        if current is not None and entry.written_at is not None and now - entry.written_at < WRITE_GRACE:
            return "keep"
        # The job is gone, or moved on: its current version has an entry of its own if it needs one.
        return "stale"

    def _preview(self, entries: list[IndexEntry], now: datetime, report: PurgeReport) -> None:
        for entry in entries:
            current = self._store.get_version(entry.job_partition_key, entry.job_row_key)
            report.jobs_read += 1
            if current is not None and is_expired(current.job, now, self._retention) and IndexEntry.for_job(current.job).address == entry.address:
                self._record(current.job.state, current.job.key.resource_id, report)

    def _record(self, state: JobState, resource_id: str, report: PurgeReport) -> None:
        report.deleted[state.value] += 1
        self._on_job(state, resource_id)


def _expired_only(page: list[IndexEntry], cutoff: datetime) -> list[IndexEntry]:
    """The entries whose own clock start is before the cutoff: never delete on the index's key order alone."""
    expired = []
    for entry in page:
        if entry.started < cutoff:
            expired.append(entry)
        else:
            log.error("index entry %s (clock started %s) was read as expired before %s; kept", entry.resource_id, entry.started, cutoff)
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
        prog="python -m shared.purge", description="Delete the Import/Export jobs whose retention ran out (rule 6)."
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
