"""The expiry directory as the purge and the writers keep it: days dropped once emptied and settled, in one
transaction a quarter, never one a writer may still count on; a day dropped is written again when a job lands on it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from shared.app import Storage
from shared.domain.clock import FixedClock, SystemClock
from shared.domain.job import JobState
from shared.domain.jobs import Preconditions
from shared.domain.names import JobKey
from shared.domain.retention import ExpiryKind, Retention
from shared.ops.purge import Purge

from ..builders import NOW, SUBSCRIPTIONS, History, jobs_over, shippable_request, tag_update
from ..harness import (
    BeforeWrite,
    index_problems,
    purge_at,
)


def test_the_purge_drops_the_directory_days_it_emptied_once_they_are_settled(storage, mixed):
    # given expired jobs, and directory rows older than the settling time (none here, so the test sets it to 0)
    expired, kept = mixed
    # when the purge runs
    report = purge_at(storage, NOW, directory_settle=timedelta(0))
    # then the days it emptied are gone from the directory, and the days of the kept jobs stay
    assert report.total_deleted == 3
    assert index_problems(storage.table) == []
    again = purge_at(storage, NOW, directory_settle=timedelta(0))
    assert (again.total_deleted, again.entries_read) == (0, 0)
    assert again.directory_rows_read < report.directory_rows_read


def finished_days(storage: Storage) -> dict[str, frozenset]:
    """The directory's days of finished jobs, by subscription."""
    last = NOW.date() + timedelta(days=1)
    return {
        row.partition_key: row.days for page in storage.directory.rows_through(ExpiryKind.FINISHED, last) for row in page.rows
    }


def test_the_purge_drops_the_emptied_days_of_a_quarter_in_one_transaction(fresh_app):
    # given a job cancelled 100 days ago in each of three subscriptions: three directory rows in one quarter's partition
    healthy = fresh_app().storage
    for subscription in SUBSCRIPTIONS:
        History(healthy.store).cancelled(JobKey(subscription, "rg", "old"), NOW - timedelta(days=100))
    transactions = []
    counting = fresh_app(
        raw_request_hook=lambda request: transactions.append(request.http_request.url.endswith("$batch"))
    ).storage
    # when the purge runs with the rows settled
    report = purge_at(counting, NOW, directory_settle=timedelta(0))
    # then it sent a transaction per subscription for the jobs, and one per kind for the three rows (each job also
    # left a day of the Creating countdown, when it was created), which are gone
    assert report.total_deleted == 3
    assert sum(transactions) == 3 + 2
    assert finished_days(healthy) == {}
    assert index_problems(healthy.table) == []


def test_a_directory_row_written_during_the_purge_keeps_its_days_and_the_others_still_go(fresh_app):
    # given a job cancelled 100 days ago in each of three subscriptions
    healthy = fresh_app().storage
    for subscription in SUBSCRIPTIONS:
        History(healthy.store).cancelled(JobKey(subscription, "rg", "old"), NOW - timedelta(days=100))
    # and a writer that finishes another job of the first subscription, back-dated to the same quarter, just before
    # the purge's directory transaction (its fourth write)
    late = JobKey(SUBSCRIPTIONS[0], "rg", "late")
    another_process = fresh_app().storage
    hook = BeforeWrite(4, lambda: History(another_process.store).cancelled(late, NOW - timedelta(days=99)))
    racing = fresh_app(raw_request_hook=hook).storage
    hook.armed = True
    # when the purge drops the emptied days
    purge_at(racing, NOW, directory_settle=timedelta(0))
    # then the row written meanwhile is left as the writer left it, and the other two are gone
    assert finished_days(healthy) == {
        SUBSCRIPTIONS[0]: frozenset({(NOW - timedelta(days=100)).date(), (NOW - timedelta(days=99)).date()})
    }
    assert index_problems(healthy.table) == []
    assert purge_at(healthy, NOW).total_deleted == 1


def test_a_day_the_purge_dropped_is_written_again_when_the_same_process_finishes_a_job_on_it(fresh_app):
    # given a job this process finished today, so its directory day is one the process remembers writing
    storage = fresh_app().storage
    today = SystemClock().now()
    History(storage.store).cancelled(JobKey(SUBSCRIPTIONS[0], "rg", "first"), today)
    # and, in the same long-lived process, a purge 91 days on that deleted it and dropped its day
    later = today + timedelta(days=91)
    assert purge_at(storage, later, directory_settle=timedelta(0)).total_deleted == 1
    # when the process finishes another job back-dated onto that day
    second = History(storage.store).cancelled(JobKey(SUBSCRIPTIONS[0], "rg", "second"), today)
    # then the directory has the day again, and the next purge deletes the job rather than strand it
    assert index_problems(storage.table) == []
    assert purge_at(storage, later, directory_settle=timedelta(0)).total_deleted == 1
    assert storage.store.get(second) is None


def test_a_day_another_purge_dropped_is_written_again_by_a_process_that_remembered_it(fresh_app):
    # given a long-lived process that finished a job today, so it remembers writing today's directory day
    today = SystemClock().now()
    process_clock = FixedClock(today)
    long_lived = fresh_app(clock=process_clock).storage
    History(long_lived.store).cancelled(JobKey(SUBSCRIPTIONS[0], "rg", "first"), today)
    # and a purge elsewhere 91 days on that deleted the job and dropped the day
    later = today + timedelta(days=91)
    assert purge_at(fresh_app().storage, later, directory_settle=timedelta(0)).total_deleted == 1
    # when, 91 days on, the process finishes another job back-dated onto that day
    process_clock.advance(timedelta(days=91))
    second = History(long_lived.store).cancelled(JobKey(SUBSCRIPTIONS[0], "rg", "second"), today)
    # then the day, no longer recent, was written again, and the next purge deletes the job rather than strand it
    assert index_problems(long_lived.table) == []
    assert purge_at(fresh_app().storage, later, directory_settle=timedelta(0)).total_deleted == 1
    assert long_lived.store.get(second) is None


def test_a_write_that_keeps_its_entry_on_its_day_sends_no_directory_request(fresh_app):
    # given a job finished five days ago, and a process that has never written that day
    key = History(fresh_app().storage.store).job(
        JobKey(SUBSCRIPTIONS[0], "rg", "finished"), JobState.COMPLETED, NOW - timedelta(days=5)
    )
    sent = []
    process = fresh_app(raw_request_hook=lambda request: sent.append(request.http_request.method)).storage
    # when the process retags it three times
    counts = []
    for n in range(3):
        sent.clear()
        jobs_over(process.store).update_job(key, tag_update(f"v{n}"), Preconditions())
        counts.append(len(sent))
    # then each retag is the read and the transaction, nothing more: the entry stays on its day, which is listed
    assert counts == [2, 2, 2]
    assert index_problems(process.table) == []


def test_a_long_lived_process_remembers_only_recent_directory_days(fresh_app):
    # given a process that creates a job in each of three subscriptions every day for 30 days
    process_clock = FixedClock(NOW)
    process = fresh_app(clock=process_clock).storage
    for day in range(30):
        for subscription in SUBSCRIPTIONS:
            jobs_over(process.store, FixedClock(process_clock.now())).create_job(
                JobKey(subscription, "rg", f"day-{day}"), shippable_request(), Preconditions()
            )
        process_clock.advance(timedelta(days=1))
    # then, as of its last write, it remembers that day and the day before only: two days of three subscriptions
    assert process.directory.remembered == 6
    assert index_problems(process.table) == []


def test_a_write_across_midnight_never_lands_on_a_directory_day_a_purge_just_dropped(fresh_app):
    # given the shortest retention (one day), and a process that finished job A on day X-1, so it remembers X-1
    x = datetime(2026, 11, 20, tzinfo=timezone.utc)
    one_day = Retention(finished=timedelta(days=1), creating=timedelta(days=14))
    healthy = fresh_app().storage
    process_clock = FixedClock(x - timedelta(hours=14))
    purged = []

    def purge_just_after_midnight(request) -> None:
        if process_clock.now() > x and request.http_request.url.endswith("$batch") and not purged:
            late = Purge(
                healthy.index,
                healthy.directory,
                one_day,
                FixedClock(x + timedelta(days=1, milliseconds=100)),
                timedelta(minutes=1),
                directory_settle=timedelta(0),
            )
            purged.append(late.run())

    writer = fresh_app(raw_request_hook=purge_just_after_midnight, clock=process_clock).storage
    History(writer.store).job(JobKey(SUBSCRIPTIONS[0], "rg", "a"), JobState.COMPLETED, x - timedelta(hours=14))
    b = History(writer.store).job(JobKey(SUBSCRIPTIONS[0], "rg", "b"), JobState.PACKAGING, x - timedelta(days=2))
    # when at 23:59:59.9 on day X the process reports B finished on X-1, and its transaction lands just after a purge
    # of X+1 00:00:00.1 deleted A
    process_clock.advance(timedelta(days=1, hours=14) - timedelta(milliseconds=100))
    jobs_over(writer.store, FixedClock(process_clock.now())).move_job(b, JobState.COMPLETED, x - timedelta(hours=12))
    assert purged[0].total_deleted == 1
    # then B's day is still in the directory, and the next purge deletes B rather than strand it
    assert index_problems(healthy.table) == []
    again = Purge(
        healthy.index,
        healthy.directory,
        one_day,
        FixedClock(x + timedelta(days=2)),
        timedelta(minutes=1),
        directory_settle=timedelta(0),
    ).run()
    assert again.total_deleted == 1
    assert healthy.store.get(b) is None
