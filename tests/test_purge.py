"""The retention purge against Azurite: exactly the expired jobs go, safely under races, crashes and time limits."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
from azure.functions.timer import TimerRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.azurite import ROOT, free_port
from shared.app import Storage, open_app
from shared.domain.clock import FixedClock, SystemClock, TimeOutOfRange, to_utc
from shared.domain.errors import BadRequest, Conflict
from shared.domain.job import JobState
from shared.domain.jobs import Preconditions
from shared.domain.names import JobKey
from shared.domain.requests import JobUpdateRequest
from shared.domain.retention import ExpiryKind, Retention, is_expired
from shared.ops.purge import Purge, PurgeReport
from shared.purge import main as purge_command
from shared.settings import CONNECTION_SETTING, DEVELOPMENT_STORAGE, FALLBACK_CONNECTION_SETTING

from .builders import CANCEL, History, jobs_over, shippable_request, update_request
from .harness import (
    BeforeWrite,
    CrashBeforeRequest,
    InjectedCrash,
    PassThrough,
    app_without_local_settings,
    expiry_entries,
    index_problems,
    serving_app,
)

S = JobState
NOW = SystemClock().now()
RETENTION = Retention(finished=timedelta(days=90), creating=timedelta(days=14))
SUBSCRIPTIONS = [
    "00000000-0000-0000-0000-0000000000a1",
    "00000000-0000-0000-0000-0000000000a2",
    "00000000-0000-0000-0000-0000000000a3",
]


def tag_update(name: str) -> JobUpdateRequest:
    return update_request({"tags": {name: "yes"}})


class ChangedBeforeFirstDelete(PassThrough):
    """The real index, but another writer changes a job just before the purge's first delete."""

    def __init__(self, index, change) -> None:
        super().__init__(index)
        self.pending_change = change

    def delete_expired(self, partition_key, entries):
        change, self.pending_change = self.pending_change, None
        if change:
            change()
        return self.inner.delete_expired(partition_key, entries)


def purge(storage: Storage, as_of: datetime, **options) -> PurgeReport:
    """A purge of `storage`'s table as of `as_of`, with a retention of 90 days (14 in Creating)."""
    budget = options.pop("budget", timedelta(minutes=5))
    return Purge(storage.index, storage.directory, RETENTION, FixedClock(as_of), budget, **options).run()


def surviving(storage: Storage, keys) -> set[JobKey]:
    return {key for key in keys if storage.store.get(key) is not None}


@pytest.fixture
def storage(fresh_app) -> Storage:
    """A jobs table of the test's own and what is built over it."""
    return fresh_app().storage


@pytest.fixture
def store(storage):
    return storage.store


@pytest.fixture
def mixed(store):
    """Jobs on both sides of every expiry line, as of NOW; returns (expired keys, kept keys)."""
    history = History(store)
    cases = [
        (S.COMPLETED, NOW - timedelta(days=91), True),
        (S.COMPLETED, NOW - timedelta(days=89), False),
        (S.CLOSED, NOW - timedelta(days=120), True),
        (S.CLOSED, NOW - timedelta(days=30), False),
        (S.CREATING, NOW - timedelta(days=15), True),
        (S.CREATING, NOW - timedelta(days=13), False),
        (S.SHIPPING, NOW - timedelta(days=400), False),
        (S.RECEIVED, NOW - timedelta(days=400), False),
        (S.TRANSFERRING, NOW - timedelta(days=400), False),
        (S.PACKAGING, NOW - timedelta(days=400), False),
    ]
    expired, kept = set(), set()
    for index, (state, when, expires) in enumerate(cases):
        key = history.job(JobKey(SUBSCRIPTIONS[index % 3], "rg", f"{state.value.lower()}-{index}"), state, when)
        (expired if expires else kept).add(key)
    return expired, kept


def test_purge_deletes_exactly_the_expired_jobs(storage, mixed):
    expired, kept = mixed
    # when the purge runs now
    report = purge(storage, NOW)
    # then exactly the expired ones are gone, and the report says so by state
    assert surviving(storage, expired | kept) == kept
    assert report.deleted == {"Completed": 1, "Closed": 1, "Creating": 1}
    assert report.complete
    # and it read one index entry per purged job, and no job
    assert report.entries_read == 3
    # and a second run finds nothing to do
    again = purge(storage, NOW)
    assert (again.total_deleted, again.entries_read) == (0, 0)
    assert index_problems(storage.table) == []


def test_a_cancelled_job_goes_ninety_days_after_it_completed(storage):
    history = History(storage.store)
    key = JobKey(SUBSCRIPTIONS[0], "rg", "cancelled")
    history.create(key, NOW - timedelta(days=95))
    history.update(key, NOW - timedelta(days=91), CANCEL)
    assert purge(storage, NOW - timedelta(days=1)).total_deleted == 0
    assert purge(storage, NOW).deleted == {"Completed": 1}


def test_dry_run_lists_without_deleting(storage, mixed):
    expired, kept = mixed
    listed = []
    report = purge(storage, NOW, dry_run=True, on_job=lambda state, resource_id: listed.append(resource_id))
    assert sorted(listed) == sorted(key.resource_id for key in expired)
    assert report.total_deleted == 3
    assert surviving(storage, expired | kept) == expired | kept


def test_a_late_run_purges_what_expired_meanwhile(storage, mixed):
    expired, kept = mixed
    report = purge(storage, NOW + timedelta(days=2))
    # two days late, the Completed job of day 89 and the Creating job of day 13 have expired too
    assert report.total_deleted == 5
    assert len(surviving(storage, expired | kept)) == 5


def test_a_job_that_changed_after_the_index_was_read_is_judged_again(storage):
    # given a Creating job that has expired, and a customer update that lands while the purge runs
    history = History(storage.store)
    key = history.job(JobKey(SUBSCRIPTIONS[0], "rg", "touched"), S.CREATING, NOW - timedelta(days=20))

    change = ChangedBeforeFirstDelete(
        storage.index, lambda: history.at(NOW).update_job(key, tag_update("touched"), Preconditions())
    )
    racing = dataclasses.replace(storage, index=change)
    # when the purge runs
    report = purge(racing, NOW + timedelta(hours=1))
    # then the conditional delete missed, the entry was gone with the old version, and the job kept
    assert report.total_deleted == 0
    assert storage.store.get(key).job.tags == {"touched": "yes"}
    assert index_problems(storage.table) == []
    # and its fresh entry purges it when its time comes
    assert purge(storage, NOW + timedelta(days=15)).deleted == {"Creating": 1}


def test_a_finished_job_retagged_after_the_index_was_read_still_goes(storage):
    history = History(storage.store)
    key = history.job(JobKey(SUBSCRIPTIONS[0], "rg", "retagged"), S.COMPLETED, NOW - timedelta(days=100))

    change = ChangedBeforeFirstDelete(storage.index, lambda: history.at(NOW).update_job(key, tag_update("late"), Preconditions()))
    report = purge(dataclasses.replace(storage, index=change), NOW)
    assert report.deleted == {"Completed": 1}
    assert storage.store.get(key) is None
    assert expiry_entries(storage.table) == []


@pytest.mark.slow
def test_two_runs_at_once_delete_each_expired_job_once(storage):
    # given 240 expired jobs over three subscriptions and 30 that are not
    history = History(storage.store)
    expired = {
        history.cancelled(key, NOW - timedelta(days=100)) if i % 2 else history.job(key, S.CREATING, NOW - timedelta(days=100))
        for i, key in enumerate(JobKey(SUBSCRIPTIONS[i % 3], "rg", f"old-{i}") for i in range(240))
    }
    kept = {history.cancelled(JobKey(SUBSCRIPTIONS[i % 3], "rg", f"new-{i}"), NOW - timedelta(days=1)) for i in range(30)}
    reports = []
    # when two purges run at the same moment
    runs = [threading.Thread(target=lambda: reports.append(purge(storage, NOW))) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    # then every expired job was deleted exactly once between them, and nothing else
    assert sum(report.total_deleted for report in reports) == 240
    assert surviving(storage, expired | kept) == kept
    assert len(expiry_entries(storage.table)) == 30
    assert index_problems(storage.table) == []


def test_a_run_stops_at_its_time_budget_and_the_next_continues(storage, mixed):
    expired, kept = mixed
    stopped = purge(storage, NOW, budget=timedelta(0))
    assert not stopped.complete
    assert "stopped at the time budget" in stopped.summary()
    assert stopped.total_deleted == 0
    finished = purge(storage, NOW)
    assert finished.complete and finished.total_deleted == 3
    assert surviving(storage, expired | kept) == kept


# Crash between any two storage writes: each operation is cut short before each of its writes in turn.
def _operations(history: History, key: JobKey):
    def update(body):
        return lambda service: service.update_job(key, update_request(body), Preconditions())

    return {
        "create": (None, lambda service: service.create_job(key, shippable_request(), Preconditions())),
        "replace in Creating": (S.CREATING, lambda service: service.create_job(key, shippable_request(), Preconditions())),
        "tags in Creating": (S.CREATING, update({"tags": {"v": "2"}})),
        "ship": (S.CREATING, update({"properties": {"state": "Shipping"}})),
        "cancel in Creating": (S.CREATING, update({"properties": {"cancelRequested": True}})),
        "tags when Completed": (S.COMPLETED, update({"tags": {"v": "2"}})),
        "complete, backdated": (S.PACKAGING, lambda service: service.move_job(key, S.COMPLETED, NOW - timedelta(days=100))),
        "close": (S.PACKAGING, lambda service: service.move_job(key, S.CLOSED, None)),
        "delete when Completed": (S.COMPLETED, lambda service: service.delete_job(key, Preconditions())),
    }


OPERATIONS = list(_operations(None, None))


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_crash_before_any_storage_request_leaves_job_and_index_in_step(fresh_app, operation):
    healthy = fresh_app().storage
    for at_request in range(1, 20):
        key = JobKey(SUBSCRIPTIONS[0], "rg", f"crash-{OPERATIONS.index(operation)}-{at_request}")
        pre_state, act = _operations(History(healthy.store), key)[operation]
        if pre_state is not None:
            # the job's last change is old enough that it was expired (or, Packaging, long in flight) before the operation
            History(healthy.store).job(
                key, pre_state, NOW - timedelta(days={S.CREATING: 20, S.COMPLETED: 100, S.PACKAGING: 120}[pre_state])
            )
        crash = CrashBeforeRequest(at_request)
        faulty = fresh_app(raw_request_hook=crash).storage
        crash.armed = True
        # when the operation is cut short before its n-th storage request (or completes, once n passes them)
        try:
            act(jobs_over(faulty.store, FixedClock(NOW)))
            completed = True
        except InjectedCrash:
            completed = False
        # then job and index agree: each job that can expire has its entry, each entry its job, each day its directory row
        assert index_problems(healthy.table) == [], (operation, at_request)
        # and a purge an hour later deletes the job exactly when its stored version has expired
        stored = healthy.store.get(key)
        should_go = stored is not None and is_expired(stored.job, NOW + timedelta(hours=1), RETENTION)
        purge(healthy, NOW + timedelta(hours=1))
        assert (healthy.store.get(key) is None) == (stored is None or should_go), (operation, at_request)
        # and one far in the future deletes it whenever it can expire at all: nothing is stranded
        purge(healthy, NOW + timedelta(days=3650))
        survivor = healthy.store.get(key)
        assert survivor is None or survivor.job.state in (S.SHIPPING, S.RECEIVED, S.TRANSFERRING, S.PACKAGING), (
            operation,
            at_request,
        )
        assert index_problems(healthy.table) == [], (operation, at_request)
        if completed:
            assert at_request > 1, "the operation made no storage request to cut short"
            print(f"\ncrash: {operation!r} cut short before each of its {at_request - 1} storage requests, 0 violations")
            break
    else:
        pytest.fail(f"{operation} never completed")


# 101 expired jobs over 3 subscriptions: directory queries, then per subscription an entry query and a transaction.
@pytest.mark.slow
@pytest.mark.parametrize("at_request", range(1, 9))
def test_a_purge_that_crashes_half_way_is_finished_by_the_next_run(fresh_app, at_request):
    healthy = fresh_app().storage
    history = History(healthy.store)
    expired = {history.cancelled(JobKey(SUBSCRIPTIONS[i % 3], "rg", f"old-{i}"), NOW - timedelta(days=100)) for i in range(101)}
    kept = {history.job(JobKey(SUBSCRIPTIONS[i % 3], "rg", f"new-{i}"), S.CREATING, NOW - timedelta(days=1)) for i in range(20)}
    crash = CrashBeforeRequest(at_request)
    faulty = fresh_app(raw_request_hook=crash).storage
    crash.armed = True
    with pytest.raises(InjectedCrash):
        purge(faulty, NOW)
    finished = purge(healthy, NOW)
    assert surviving(healthy, expired | kept) == kept
    assert finished.complete
    assert len(expiry_entries(healthy.table)) == 20
    assert index_problems(healthy.table) == []


def test_the_timer_function_purges_and_logs(job_store, caplog):
    import purge_timer

    # given an expired job in the app's own table
    key = History(job_store).job(
        JobKey("00000000-0000-0000-0000-0000000000f1", "rg", "timer"), S.CLOSED, NOW - timedelta(days=91)
    )
    # when the timer fires late
    with caplog.at_level(logging.INFO, logger="importexport.purge"):
        purge_timer.main(TimerRequest(past_due=True))
    # then the job is gone and the log says what and how long
    assert job_store.get(key) is None
    assert "past due" in caplog.text
    assert "deleted" in caplog.text and "Closed 1" in caplog.text and " s;" in caplog.text


def test_the_dev_host_runs_the_purge_from_its_admin_endpoint(job_store, devhost):
    import requests

    key = History(job_store).job(
        JobKey("00000000-0000-0000-0000-0000000000f2", "rg", "admin"), S.COMPLETED, NOW - timedelta(days=91)
    )
    response = requests.post(f"{devhost.base_url}/admin/functions/purge_timer", json={"input": ""}, timeout=30)
    assert response.status_code == 202
    assert job_store.get(key) is None


def run_cli(args, table: str, connection: str):
    env = {**os.environ, "IMPORTEXPORT_STORAGE_CONNECTION": connection, "IMPORTEXPORT_TABLE_NAME": table}
    return subprocess.run(
        [sys.executable, "-m", "shared.purge", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_command_line_previews_and_purges(azurite, mixed, storage):
    expired, kept = mixed
    table = storage.table.table_name
    # a dry run in the future lists more, deletes nothing
    preview = run_cli(["--dry-run", "--as-of", (NOW + timedelta(days=2)).isoformat()], table, azurite)
    assert preview.returncode == 0, preview.stderr
    lines = preview.stdout.strip().splitlines()
    assert len([line for line in lines if line.startswith("would delete ")]) == 5
    assert "would delete 5 jobs" in lines[-1]
    assert surviving(storage, expired | kept) == expired | kept
    # the future is refused without --dry-run
    refused = run_cli(["--as-of", "2999-01-01T00:00:00Z"], table, azurite)
    assert refused.returncode == 2 and "--dry-run" in refused.stderr
    # a real run prints each deleted job's resource id, then the summary
    real = run_cli([], table, azurite)
    assert real.returncode == 0, real.stderr
    printed = {line.split()[-1] for line in real.stdout.splitlines() if line.startswith("deleted ")}
    assert printed == {key.resource_id for key in expired}
    assert "deleted 3 jobs (Closed 1, Completed 1, Creating 1)" in real.stdout
    assert surviving(storage, expired | kept) == kept


def test_a_purge_between_a_directory_write_and_its_job_write_keeps_the_directory_day(fresh_app):
    # given a job in Packaging that the datacenter completes with a time long past (already expired)
    healthy = fresh_app().storage
    key = History(healthy.store).job(JobKey(SUBSCRIPTIONS[0], "rg", "in-flight"), S.PACKAGING, NOW - timedelta(days=120))
    reports = []
    # write 1 adds that old day to the directory; the purge runs just before write 2, the job with its entry
    hook = BeforeWrite(2, lambda: reports.append(purge(healthy, NOW)))
    mover = fresh_app(raw_request_hook=hook).storage
    hook.armed = True
    # when the move and a purge interleave
    jobs_over(mover.store, FixedClock(NOW)).move_job(key, S.COMPLETED, NOW - timedelta(days=100))
    # then that purge found nothing on the day yet, and left the young directory row alone
    assert reports[0].total_deleted == 0
    assert index_problems(healthy.table) == []
    # and the next purge finds the finished job through it
    assert purge(healthy, NOW).deleted == {"Completed": 1}
    assert healthy.store.get(key) is None


def test_the_purge_drops_the_directory_days_it_emptied_once_they_are_settled(storage, mixed):
    # given expired jobs, and directory rows older than the settling time (none here, so the test sets it to 0)
    expired, kept = mixed
    # when the purge runs
    report = purge(storage, NOW, directory_settle=timedelta(0))
    # then the days it emptied are gone from the directory, and the days of the kept jobs stay
    assert report.total_deleted == 3
    assert index_problems(storage.table) == []
    again = purge(storage, NOW, directory_settle=timedelta(0))
    assert (again.total_deleted, again.entries_read) == (0, 0)
    assert again.directory_rows_read < report.directory_rows_read


def finished_days(storage: Storage) -> dict[str, frozenset]:
    """The directory's days of finished jobs, by subscription."""
    last = NOW.date() + timedelta(days=1)
    return {row.partition_key: row.days for rows in storage.directory.rows_through(ExpiryKind.FINISHED, last) for row in rows}


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
    report = purge(counting, NOW, directory_settle=timedelta(0))
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
    purge(racing, NOW, directory_settle=timedelta(0))
    # then the row written meanwhile is left as the writer left it, and the other two are gone
    assert finished_days(healthy) == {
        SUBSCRIPTIONS[0]: frozenset({(NOW - timedelta(days=100)).date(), (NOW - timedelta(days=99)).date()})
    }
    assert index_problems(healthy.table) == []
    assert purge(healthy, NOW).total_deleted == 1


def test_a_day_the_purge_dropped_is_written_again_when_the_same_process_finishes_a_job_on_it(fresh_app):
    # given a job this process finished today, so its directory day is one the process remembers writing
    storage = fresh_app().storage
    today = SystemClock().now()
    History(storage.store).cancelled(JobKey(SUBSCRIPTIONS[0], "rg", "first"), today)
    # and, in the same long-lived process, a purge 91 days on that deleted it and dropped its day
    later = today + timedelta(days=91)
    assert purge(storage, later, directory_settle=timedelta(0)).total_deleted == 1
    # when the process finishes another job back-dated onto that day
    second = History(storage.store).cancelled(JobKey(SUBSCRIPTIONS[0], "rg", "second"), today)
    # then the directory has the day again, and the next purge deletes the job rather than strand it
    assert index_problems(storage.table) == []
    assert purge(storage, later, directory_settle=timedelta(0)).total_deleted == 1
    assert storage.store.get(second) is None


def test_a_day_another_purge_dropped_is_written_again_by_a_process_that_remembered_it(fresh_app):
    # given a long-lived process that finished a job today, so it remembers writing today's directory day
    today = SystemClock().now()
    process_clock = FixedClock(today)
    long_lived = fresh_app(clock=process_clock).storage
    History(long_lived.store).cancelled(JobKey(SUBSCRIPTIONS[0], "rg", "first"), today)
    # and a purge elsewhere 91 days on that deleted the job and dropped the day
    later = today + timedelta(days=91)
    assert purge(fresh_app().storage, later, directory_settle=timedelta(0)).total_deleted == 1
    # when, 91 days on, the process finishes another job back-dated onto that day
    process_clock.advance(timedelta(days=91))
    second = History(long_lived.store).cancelled(JobKey(SUBSCRIPTIONS[0], "rg", "second"), today)
    # then the day, no longer recent, was written again, and the next purge deletes the job rather than strand it
    assert index_problems(long_lived.table) == []
    assert purge(fresh_app().storage, later, directory_settle=timedelta(0)).total_deleted == 1
    assert long_lived.store.get(second) is None


def test_a_write_that_keeps_its_entry_on_its_day_sends_no_directory_request(fresh_app):
    # given a job finished five days ago, and a process that has never written that day
    key = History(fresh_app().storage.store).job(JobKey(SUBSCRIPTIONS[0], "rg", "finished"), S.COMPLETED, NOW - timedelta(days=5))
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


@pytest.mark.slow
def test_a_run_stops_at_its_time_budget_within_one_subscription_and_the_next_continues(fresh_app):
    # given 120 expired jobs in one subscription (three transactions), and storage that takes 0.3 s per transaction
    healthy = fresh_app().storage
    expired = {
        History(healthy.store).cancelled(JobKey(SUBSCRIPTIONS[0], "rg", f"old-{i}"), NOW - timedelta(days=100))
        for i in range(120)
    }

    def slow_transactions(request) -> None:
        if request.http_request.url.endswith("$batch"):
            time.sleep(0.3)

    slow = fresh_app(raw_request_hook=slow_transactions).storage
    # when a run with a budget of 0.2 s purges
    stopped = purge(slow, NOW, budget=timedelta(seconds=0.2))
    # then it stopped after its first transaction, within the subscription, and the next run deletes the rest
    assert (stopped.complete, stopped.total_deleted) == (False, 50)
    assert purge(healthy, NOW).total_deleted == 70
    assert surviving(healthy, expired) == set()
    assert index_problems(healthy.table) == []


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
    History(writer.store).job(JobKey(SUBSCRIPTIONS[0], "rg", "a"), S.COMPLETED, x - timedelta(hours=14))
    b = History(writer.store).job(JobKey(SUBSCRIPTIONS[0], "rg", "b"), S.PACKAGING, x - timedelta(days=2))
    # when at 23:59:59.9 on day X the process reports B finished on X-1, and its transaction lands just after a purge
    # of X+1 00:00:00.1 deleted A
    process_clock.advance(timedelta(days=1, hours=14) - timedelta(milliseconds=100))
    jobs_over(writer.store, FixedClock(process_clock.now())).move_job(b, S.COMPLETED, x - timedelta(hours=12))
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


@pytest.mark.slow
@pytest.mark.usefixtures("machine_to_itself")
def test_a_purge_during_heavy_traffic_deletes_exactly_the_expired_jobs(fresh_app):
    # given 150 expired jobs, and 16 threads busy with 40 fresh jobs of the same subscriptions
    healthy = fresh_app().storage
    history = History(healthy.store)
    expired = {history.cancelled(JobKey(SUBSCRIPTIONS[i % 3], "rg", f"old-{i}"), NOW - timedelta(days=100)) for i in range(150)}
    busy = [JobKey(SUBSCRIPTIONS[i % 3], "rg", f"busy-{i}") for i in range(40)]
    for key in busy:
        jobs_over(healthy.store).create_job(key, shippable_request(), Preconditions())
    stop = threading.Event()

    def traffic(seed: int) -> None:
        service, step = jobs_over(healthy.store), seed
        while not stop.is_set():
            key = busy[step % len(busy)]
            body = [
                {"tags": {"step": str(step)}},
                {"properties": {"state": "Shipping"}},
                {"properties": {"cancelRequested": True}},
            ][step % 3]
            try:
                service.update_job(key, update_request(body), Preconditions())
            except (Conflict, BadRequest):
                pass
            step += 17

    workers = [threading.Thread(target=traffic, args=(seed,)) for seed in range(16)]
    for worker in workers:
        worker.start()
    # when the purge runs in the middle of it
    report = purge(healthy, NOW + timedelta(hours=1))
    stop.set()
    for worker in workers:
        worker.join()
    # then exactly the expired jobs went, and every busy one is still there
    assert report.total_deleted == 150
    assert surviving(healthy, expired) == set()
    assert surviving(healthy, set(busy)) == set(busy)


def test_a_purge_as_of_a_year_before_1000_deletes_nothing(storage, mixed):
    # given jobs on both sides of every expiry line today
    expired, kept = mixed
    # when the purge judges them as of the year 999, when none of them had even been created
    report = purge(storage, datetime(999, 1, 1, tzinfo=timezone.utc))
    # then it deletes nothing (index keys written with a three-digit year once sorted after 2026's)
    assert report.total_deleted == 0
    assert surviving(storage, expired | kept) == expired | kept


class IndexIgnoringTheCutoff(PassThrough):
    """An index whose entry key ranges reach past the cutoff, as keys that sort wrongly would."""

    def expired_entries(self, partition_key, kind, cutoff):
        return self.inner.expired_entries(partition_key, kind, datetime(8999, 1, 1, tzinfo=timezone.utc))


def test_the_purge_never_deletes_an_entry_whose_own_clock_is_not_past_the_cutoff(storage, mixed):
    # given an index that hands the purge every entry, expired or not
    expired, kept = mixed
    misled = dataclasses.replace(storage, index=IndexIgnoringTheCutoff(storage.index))
    # when the purge runs now
    report = purge(misled, NOW)
    # then it checks each entry's own clock start and deletes only the expired jobs
    assert report.total_deleted == len(expired)
    assert surviving(storage, expired | kept) == kept


def test_the_command_refuses_a_time_outside_the_accepted_range(azurite, storage):
    # given a time whose UTC form would be in the year 0
    # when the command is asked to purge as of it
    refused = run_cli(["--dry-run", "--as-of", "0001-01-01T00:00:00+01:00"], storage.table.table_name, azurite)
    # then it answers as argparse does: a usage line, the reason, exit 2, no traceback
    assert refused.returncode == 2
    assert "error: argument --as-of:" in refused.stderr and "outside the times" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_command_says_in_one_line_when_storage_is_down(storage):
    # given a connection string to a port where nothing listens
    nowhere = DEVELOPMENT_STORAGE.replace("127.0.0.1:10002", f"127.0.0.1:{free_port()}")
    # when the command runs
    result = run_cli(["--dry-run"], storage.table.table_name, nowhere)
    # then it says so in one line and exits non-zero
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "python -m shared.purge: the storage service did not answer (ServiceRequestError); nothing more was purged"
    ]


def test_the_command_says_in_one_line_when_no_storage_is_configured(tmp_path):
    # given no storage setting in the environment, nor a local.settings.json
    unset = (CONNECTION_SETTING, FALLBACK_CONNECTION_SETTING, "PYTHONPATH")
    env = {name: value for name, value in os.environ.items() if name not in unset}
    app = app_without_local_settings(tmp_path)
    # when the command runs
    result = subprocess.run(
        [sys.executable, "-m", "shared.purge", "--dry-run"], cwd=app, env=env, capture_output=True, text=True, timeout=60
    )
    # then it names the setting in one line and exits 2
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert CONNECTION_SETTING in result.stderr


# Any time `datetime` can hold, in any UTC offset, and many near today, where the expiry lines are.
offsets = st.integers(min_value=-1439, max_value=1439).map(lambda minutes: timezone(timedelta(minutes=minutes)))
as_of_times = st.one_of(
    st.datetimes(timezones=offsets),
    st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)).map(lambda delta: NOW + delta),
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(as_of=as_of_times)
def test_the_command_deletes_exactly_what_its_dry_run_lists_and_only_expired_jobs(app_settings, capsys, as_of):
    # given a table of its own with jobs on both sides of every expiry line today
    settings = app_settings.model_copy(update={"table_name": "Cli" + uuid.uuid4().hex[:12]})
    with open_app(settings) as app:
        history = History(app.storage.store)
        keys = [
            history.job(JobKey(SUBSCRIPTIONS[0], "rg", f"job-{index}"), state, NOW - timedelta(days=days))
            for index, (state, days) in enumerate(
                [(S.COMPLETED, 91), (S.COMPLETED, 89), (S.CLOSED, 120), (S.CREATING, 15), (S.CREATING, 13), (S.SHIPPING, 400)]
            )
        ]
        jobs_before = {key: app.storage.store.get(key).job for key in keys}
        # and the command's settings in the environment, where a user gives them
        environment = {
            "IMPORTEXPORT_STORAGE_CONNECTION": settings.storage_connection,
            "IMPORTEXPORT_TABLE_NAME": settings.table_name,
        }
        try:
            with mock.patch.dict(os.environ, environment):
                the_command_deletes_what_it_lists(app.storage, jobs_before, capsys, as_of)
        finally:
            app.storage.table.delete_table()


def the_command_deletes_what_it_lists(storage: Storage, jobs_before: dict, capsys, as_of: datetime) -> None:
    keys, text = list(jobs_before), as_of.isoformat()
    try:
        to_utc(as_of)
    except TimeOutOfRange:
        # when the time is outside the accepted range, then the command refuses it and deletes nothing
        with pytest.raises(SystemExit) as refused:
            purge_command(["--as-of", text])
        assert refused.value.code == 2 and "outside the times" in capsys.readouterr().err
        assert surviving(storage, keys) == set(keys)
        return
    # when it previews, then it lists exactly the jobs expired at that time
    expected = {key.resource_id for key, job in jobs_before.items() if is_expired(job, as_of, RETENTION)}
    assert purge_command(["--dry-run", "--as-of", text]) == 0
    assert listed(capsys.readouterr().out, "would delete ") == expected
    if as_of > SystemClock().now():
        return  # a real run in the future is refused (tested above)
    # and when it purges for real, then it deletes exactly what the preview listed, nothing else
    assert purge_command(["--as-of", text]) == 0
    assert listed(capsys.readouterr().out, "deleted ") == expected
    assert {key.resource_id for key in keys} - {key.resource_id for key in surviving(storage, keys)} == expected


def listed(output: str, prefix: str) -> set[str]:
    """The resource ids of the command's per-job lines."""
    return {line.split()[-1] for line in output.splitlines() if line.startswith(prefix)}


def test_the_command_says_when_storage_refuses_the_credentials(azurite, storage):
    # given a connection string to the right storage with a wrong (but well-formed) key
    wrong_key = re.sub(r"AccountKey=[^;]+", "AccountKey=YWJj", azurite)
    # when the command runs
    result = run_cli(["--dry-run"], storage.table.table_name, wrong_key)
    # then it says the credentials were refused, a setting to fix, and exits 2 as for other settings
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "python -m shared.purge: the storage service refused the credentials (403); check the storage connection string;"
        " nothing more was purged"
    ]


def test_the_timer_logs_one_line_when_storage_is_down(app_settings, caplog):
    import purge_timer

    # given the app pointed at a port where no storage listens
    nowhere = DEVELOPMENT_STORAGE.replace("127.0.0.1:10002", f"127.0.0.1:{free_port()}")
    with serving_app(app_settings.model_copy(update={"storage_connection": nowhere})):
        # when the timer fires
        with caplog.at_level(logging.INFO, logger="importexport.purge"):
            purge_timer.main(TimerRequest(past_due=False))
    # then the run ends with one error line, no stack trace, for the next run to continue
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in errors] == [
        "purge stopped: the storage service did not answer (ServiceRequestError); the next run continues"
    ]
