"""The retention purge against Azurite: exactly the expired jobs go, judged by their own times, within a time budget;
a job changed after its entry was read is judged again."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta, timezone

import pytest

from shared.domain.job import JobState
from shared.domain.jobs import Preconditions
from shared.domain.names import JobKey

from ..builders import CANCEL, NOW, SUBSCRIPTIONS, History, tag_update
from ..harness import (
    PassThrough,
    expiry_entries,
    index_problems,
    purge_at,
    surviving,
)


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


def test_purge_deletes_exactly_the_expired_jobs(storage, mixed):
    expired, kept = mixed
    # when the purge runs now
    report = purge_at(storage, NOW)
    # then exactly the expired ones are gone, and the report says so by state
    assert surviving(storage, expired | kept) == kept
    assert report.deleted == {"Completed": 1, "Closed": 1, "Creating": 1}
    assert report.complete
    # and it read one index entry per purged job, and no job
    assert report.entries_read == 3
    # and a second run finds nothing to do
    again = purge_at(storage, NOW)
    assert (again.total_deleted, again.entries_read) == (0, 0)
    assert index_problems(storage.table) == []


def test_a_cancelled_job_goes_ninety_days_after_it_completed(storage):
    history = History(storage.store)
    key = JobKey(SUBSCRIPTIONS[0], "rg", "cancelled")
    history.create(key, NOW - timedelta(days=95))
    history.update(key, NOW - timedelta(days=92), CANCEL)
    history.at(NOW - timedelta(days=91)).complete_cancel(key)
    assert purge_at(storage, NOW - timedelta(days=1)).total_deleted == 0
    assert purge_at(storage, NOW).deleted == {"Completed": 1}


def test_dry_run_lists_without_deleting(storage, mixed):
    expired, kept = mixed
    listed = []
    report = purge_at(storage, NOW, dry_run=True, on_job=lambda state, resource_id: listed.append(resource_id))
    assert sorted(listed) == sorted(key.resource_id for key in expired)
    assert report.total_deleted == 3
    assert surviving(storage, expired | kept) == expired | kept


def test_a_late_run_purges_what_expired_meanwhile(storage, mixed):
    expired, kept = mixed
    report = purge_at(storage, NOW + timedelta(days=2))
    # two days late, the Completed job of day 89 and the Creating job of day 13 have expired too
    assert report.total_deleted == 5
    assert len(surviving(storage, expired | kept)) == 5


def test_a_job_that_changed_after_the_index_was_read_is_judged_again(storage):
    # given a Creating job that has expired, and a customer update that lands while the purge runs
    history = History(storage.store)
    key = history.job(JobKey(SUBSCRIPTIONS[0], "rg", "touched"), JobState.CREATING, NOW - timedelta(days=20))

    change = ChangedBeforeFirstDelete(
        storage.index, lambda: history.at(NOW).update_job(key, tag_update("touched"), Preconditions())
    )
    racing = dataclasses.replace(storage, index=change)
    # when the purge runs
    report = purge_at(racing, NOW + timedelta(hours=1))
    # then the conditional delete missed, the entry was gone with the old version, and the job kept
    assert report.total_deleted == 0
    assert storage.store.get(key).job.tags == {"touched": "yes"}
    assert index_problems(storage.table) == []
    # and its fresh entry purges it when its time comes
    assert purge_at(storage, NOW + timedelta(days=15)).deleted == {"Creating": 1}


def test_a_finished_job_retagged_after_the_index_was_read_still_goes(storage):
    history = History(storage.store)
    key = history.job(JobKey(SUBSCRIPTIONS[0], "rg", "retagged"), JobState.COMPLETED, NOW - timedelta(days=100))

    change = ChangedBeforeFirstDelete(storage.index, lambda: history.at(NOW).update_job(key, tag_update("late"), Preconditions()))
    report = purge_at(dataclasses.replace(storage, index=change), NOW)
    assert report.deleted == {"Completed": 1}
    assert storage.store.get(key) is None
    assert expiry_entries(storage.table) == []


def test_a_run_stops_at_its_time_budget_and_the_next_continues(storage, mixed):
    expired, kept = mixed
    stopped = purge_at(storage, NOW, budget=timedelta(0))
    assert not stopped.complete
    assert "stopped at the time budget" in stopped.summary()
    assert stopped.total_deleted == 0
    finished = purge_at(storage, NOW)
    assert finished.complete and finished.total_deleted == 3
    assert surviving(storage, expired | kept) == kept


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
    stopped = purge_at(slow, NOW, budget=timedelta(seconds=0.2))
    # then it stopped after its first transaction, within the subscription, and the next run deletes the rest
    assert (stopped.complete, stopped.total_deleted) == (False, 50)
    assert purge_at(healthy, NOW).total_deleted == 70
    assert surviving(healthy, expired) == set()
    assert index_problems(healthy.table) == []


def test_a_purge_as_of_a_year_before_1000_deletes_nothing(storage, mixed):
    # given jobs on both sides of every expiry line today
    expired, kept = mixed
    # when the purge judges them as of the year 999, when none of them had even been created
    report = purge_at(storage, datetime(999, 1, 1, tzinfo=timezone.utc))
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
    report = purge_at(misled, NOW)
    # then it checks each entry's own clock start and deletes only the expired jobs
    assert report.total_deleted == len(expired)
    assert surviving(storage, expired | kept) == kept


# (state, period): each countdown that deletes, and how long it runs by the contract's defaults.
COUNTDOWNS = [
    (JobState.COMPLETED, timedelta(days=90)),
    (JobState.CLOSED, timedelta(days=90)),
    (JobState.CREATING, timedelta(days=14)),
]
BOUNDARY = {"just before": timedelta(microseconds=-1), "at": timedelta(0), "just after": timedelta(microseconds=1)}


@pytest.mark.parametrize("misled", [False, True], ids=["real index", "index ignoring the cutoff"])
@pytest.mark.parametrize(("state", "period"), COUNTDOWNS, ids=[state.value for state, _ in COUNTDOWNS])
def test_a_job_goes_only_once_its_countdown_is_older_than_its_period_to_the_microsecond(storage, state, period, misled):
    # given jobs whose countdown started a period ago, a microsecond less and a microsecond more
    history = History(storage.store)
    keys = {
        name: history.job(JobKey(SUBSCRIPTIONS[0], "rg", name.replace(" ", "-")), state, NOW - period - offset)
        for name, offset in BOUNDARY.items()
    }
    index = IndexIgnoringTheCutoff(storage.index) if misled else storage.index
    # when the purge runs now, its index honest or handing it every entry
    purge_at(dataclasses.replace(storage, index=index), NOW)
    # then only the one older than the period went: one exactly the period old is not yet "older than" it
    assert {name for name, key in keys.items() if storage.store.get(key) is not None} == {"just before", "at"}
