"""The service's completion of cancels recorded in Creating (rule 3), over real storage: what it completes, what it
costs, and that races, crashes and the purge never complete a job twice nor delete one early."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from shared.domain.clock import FixedClock
from shared.domain.job import JobState
from shared.domain.jobs import CancelCompletion, Preconditions
from shared.domain.names import JobKey
from shared.storage import directory as directory_module
from shared.storage.directory import DIRECTORY_PREFIX

from ..builders import CANCEL, NOW, SUBSCRIPTIONS, History, jobs_over, shippable_request, tag_update, update_request
from ..harness import (
    BeforeWrite,
    CrashBeforeRequest,
    InjectedCrash,
    complete_cancels_at,
    index_problems,
    purge_at,
)

LATER = NOW + timedelta(hours=1)


def pending(history: History, key: JobKey, cancelled_at=NOW) -> JobKey:
    """A job created a day before `cancelled_at` and cancelled then, in Creating: its cancel pending."""
    history.create(key, cancelled_at - timedelta(days=1))
    history.update(key, cancelled_at, CANCEL)
    return key


def cancel_rows(storage) -> list[dict]:
    return [e for e in storage.table.list_entities() if e["PartitionKey"].startswith(f"{DIRECTORY_PREFIX}cancel|")]


class CountingRequests:
    """A `raw_request_hook` that counts the storage requests sent while armed."""

    def __init__(self) -> None:
        self.count = 0
        self.armed = False

    def __call__(self, request) -> None:
        if self.armed:
            self.count += 1


def test_a_run_completes_every_pending_cancel_and_nothing_else(storage):
    # given pending cancels in three subscriptions, beside jobs of every other kind
    history = History(storage.store)
    cancelled = {pending(history, JobKey(SUBSCRIPTIONS[i % 3], "rg", f"p-{i}")) for i in range(9)}
    others = {
        history.job(JobKey(SUBSCRIPTIONS[0], "rg", "creating"), JobState.CREATING, NOW),
        history.job(JobKey(SUBSCRIPTIONS[1], "rg", "shipping"), JobState.SHIPPING, NOW, cancel_requested=True),
        history.job(JobKey(SUBSCRIPTIONS[2], "rg", "completed"), JobState.COMPLETED, NOW),
    }
    before = {key: storage.store.get(key).etag for key in others}
    # when the completion runs an hour later
    report = complete_cancels_at(storage, LATER)
    # then each pending cancel is Completed from then on, and no other job was written
    assert report.completed == 9
    for key in cancelled:
        job = storage.store.get(key).job
        assert (job.state, job.properties.cancel_requested, job.properties.completed_at) == (JobState.COMPLETED, True, LATER)
    assert {key: storage.store.get(key).etag for key in others} == before
    assert index_problems(storage.table) == []


def test_the_next_run_finds_nothing_to_complete(storage):
    pending(History(storage.store), JobKey(SUBSCRIPTIONS[0], "rg", "once"))
    assert complete_cancels_at(storage, LATER).completed == 1
    again = complete_cancels_at(storage, LATER + timedelta(seconds=10))
    assert (again.completed, again.outcomes[CancelCompletion.NOT_PENDING], again.entries_read) == (0, 0, 0)


def test_the_cancelling_caller_stays_the_last_to_modify_the_job(storage):
    key = pending(History(storage.store), JobKey(SUBSCRIPTIONS[0], "rg", "by"))
    cancelled_by = storage.store.get(key).job.properties.last_modified_by
    complete_cancels_at(storage, LATER)
    assert storage.store.get(key).job.properties.last_modified_by == cancelled_by


def test_a_job_edited_while_its_cancel_is_pending_is_completed_with_its_edit(storage):
    history = History(storage.store)
    key = pending(history, JobKey(SUBSCRIPTIONS[0], "rg", "edited"))
    history.at(NOW + timedelta(minutes=1)).update_job(key, tag_update("kept"), Preconditions())
    complete_cancels_at(storage, LATER)
    job = storage.store.get(key).job
    assert (job.state, "kept" in job.tags) == (JobState.COMPLETED, True)
    assert index_problems(storage.table) == []


def test_the_directory_forgets_a_subscription_once_its_row_has_settled_empty(storage):
    # given a pending cancel, completed by a run that keeps the directory row while it is recent
    pending(History(storage.store), JobKey(SUBSCRIPTIONS[0], "rg", "settle"))
    complete_cancels_at(storage, LATER)
    assert len(cancel_rows(storage)) == 1
    # when a run finds the row settled and empty
    report = complete_cancels_at(storage, LATER, directory_settle=timedelta(0))
    # then it drops the row, so the next run reads nothing at all
    assert (report.directory_rows_read, report.entries_read) == (1, 0)
    assert cancel_rows(storage) == []
    assert complete_cancels_at(storage, LATER).directory_rows_read == 0


@pytest.mark.parametrize("other_jobs", [0, 300])
def test_the_cost_follows_the_pending_cancels_not_the_table(fresh_app, other_jobs):
    # given 10 pending cancels in two subscriptions, beside `other_jobs` jobs of every kind
    counting = CountingRequests()
    storage = fresh_app(raw_request_hook=counting).storage
    history = History(storage.store)
    for i in range(10):
        pending(history, JobKey(SUBSCRIPTIONS[i % 2], "rg", f"p-{i}"))
    for i in range(other_jobs):
        state = [JobState.CREATING, JobState.SHIPPING, JobState.COMPLETED][i % 3]
        history.job(JobKey(SUBSCRIPTIONS[i % 2], "rg", f"o-{i}"), state, NOW - timedelta(days=1 + i % 200))
    # when the completion runs
    counting.armed = True
    report = complete_cancels_at(storage, LATER)
    # then it made one directory query, one entry query per subscription and two requests per completed job (a read
    # and one transaction), plus the first finished-day note of each subscription: whatever the table holds
    assert report.completed == 10
    assert counting.count == 1 + 2 + 10 * 2 + 2
    assert report.entries_read == 10


def test_the_operator_completing_first_leaves_the_job_as_the_operator_did(fresh_app):
    # given a pending cancel
    healthy = fresh_app().storage
    key = pending(History(healthy.store), JobKey(SUBSCRIPTIONS[0], "rg", "raced"))
    operator_at = NOW + timedelta(minutes=30)
    # when the operator completes it just before the completion's first write
    hook = BeforeWrite(1, lambda: History(healthy.store).at(operator_at).move_job(key, JobState.COMPLETED, None))
    racing = fresh_app(raw_request_hook=hook).storage
    hook.armed = True
    report = complete_cancels_at(racing, LATER)
    # then the completion lost, read the job again and found no cancel pending: completed once, by the operator
    assert report.outcomes == Counter({CancelCompletion.NOT_PENDING: 1})
    job = healthy.store.get(key).job
    assert (job.state, job.properties.completed_at) == (JobState.COMPLETED, operator_at)
    assert index_problems(healthy.table) == []


def test_a_cancel_racing_the_operator_in_shipping_is_recorded_once(fresh_app):
    # given a shipped job the operator receives just as the customer's cancel writes
    healthy = fresh_app().storage
    key = History(healthy.store).job(JobKey(SUBSCRIPTIONS[0], "rg", "shipped"), JobState.SHIPPING, NOW)
    hook = BeforeWrite(1, lambda: jobs_over(healthy.store).move_job(key, JobState.RECEIVED, None))
    racing = fresh_app(raw_request_hook=hook).storage
    hook.armed = True
    # when the cancel goes on after losing the race
    jobs_over(racing.store).update_job(key, update_request(CANCEL), Preconditions())
    # then both took effect: Received, with the cancel recorded, and nothing for the completion to do
    job = healthy.store.get(key).job
    assert (job.state, job.properties.cancel_requested) == (JobState.RECEIVED, True)
    assert complete_cancels_at(healthy, LATER).entries_read == 0


def test_a_delete_racing_the_completion_leaves_the_job_deleted(fresh_app):
    # given a pending cancel the customer deletes just before the completion's first write
    healthy = fresh_app().storage
    key = pending(History(healthy.store), JobKey(SUBSCRIPTIONS[0], "rg", "deleted"))
    hook = BeforeWrite(1, lambda: jobs_over(healthy.store).delete_job(key, Preconditions()))
    racing = fresh_app(raw_request_hook=hook).storage
    hook.armed = True
    # when the completion goes on
    report = complete_cancels_at(racing, LATER)
    # then it found the job gone, and wrote nothing back
    assert report.outcomes == Counter({CancelCompletion.GONE: 1})
    assert healthy.store.get(key) is None
    assert index_problems(healthy.table) == []


def test_a_completion_racing_a_delete_lets_the_delete_refuse_or_win(fresh_app):
    # given a pending cancel whose completion lands just before the customer's delete writes
    healthy = fresh_app().storage
    key = pending(History(healthy.store), JobKey(SUBSCRIPTIONS[0], "rg", "completed-first"))
    hook = BeforeWrite(1, lambda: complete_cancels_at(healthy, LATER))
    racing = fresh_app(raw_request_hook=hook).storage
    hook.armed = True
    # when the delete goes on: it read a job in Creating, lost, and reads it again (Completed: still deletable)
    assert jobs_over(racing.store).delete_job(key, Preconditions())
    # then the job is gone with its entry
    assert healthy.store.get(key) is None
    assert index_problems(healthy.table) == []


@pytest.mark.slow
def test_two_runs_at_once_complete_each_job_once(storage):
    # given 60 pending cancels over three subscriptions
    history = History(storage.store)
    keys = {pending(history, JobKey(SUBSCRIPTIONS[i % 3], "rg", f"p-{i}")) for i in range(60)}
    reports = []
    # when two runs start at the same moment
    runs = [threading.Thread(target=lambda: reports.append(complete_cancels_at(storage, LATER))) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    # then between them each job was completed exactly once
    assert sum(report.completed for report in reports) == 60
    assert all(storage.store.get(key).job.state == JobState.COMPLETED for key in keys)
    assert index_problems(storage.table) == []


# 5 pending cancels in 2 subscriptions: a directory query, an entry query each, a read and a write per job, notes.
@pytest.mark.parametrize("at_request", range(1, 17))
def test_a_run_cut_short_before_any_storage_request_is_finished_once_by_the_next(fresh_app, at_request):
    # given pending cancels
    healthy = fresh_app().storage
    history = History(healthy.store)
    keys = [pending(history, JobKey(SUBSCRIPTIONS[i % 2], "rg", f"p-{i}")) for i in range(5)]
    # when a run is cut short before its n-th storage request
    crash = CrashBeforeRequest(at_request)
    faulty = fresh_app(raw_request_hook=crash).storage
    crash.armed = True
    try:
        complete_cancels_at(faulty, NOW + timedelta(minutes=1))
    except InjectedCrash:
        pass
    completed_by_the_cut_run = {key for key in keys if healthy.store.get(key).job.state == JobState.COMPLETED}
    # then job and index agree, and no purge, however late, deletes a job whose cancel is still pending
    assert index_problems(healthy.table) == []
    purge_at(healthy, NOW + timedelta(days=3650))
    assert all(healthy.store.get(key) is not None for key in keys if key not in completed_by_the_cut_run)
    # and the next run completes exactly the others, each once: the ones the cut run completed keep its time
    report = complete_cancels_at(healthy, LATER)
    assert report.completed == len(keys) - len(completed_by_the_cut_run)
    for key in keys:
        stored = healthy.store.get(key)
        if key in completed_by_the_cut_run:
            continue  # a purge ten years on has deleted it, as it should
        assert stored.job.properties.completed_at == LATER
    assert index_problems(healthy.table) == []


def test_the_purge_never_deletes_a_job_whose_cancel_is_pending(storage):
    # given a job cancelled in Creating 100 days ago and never completed (the timer was off all that time)
    key = pending(History(storage.store), JobKey(SUBSCRIPTIONS[0], "rg", "waiting"), cancelled_at=NOW - timedelta(days=100))
    # when the purge runs, now and in ten years
    purge_at(storage, NOW)
    purge_at(storage, NOW + timedelta(days=3650))
    # then the job is still there, waiting in Creating for its completion
    assert storage.store.get(key).job.state == JobState.CREATING


def test_a_completed_cancel_is_kept_for_the_retention_from_its_completion_to_the_microsecond(storage):
    # given a job cancelled 100 days ago and completed only now
    key = pending(History(storage.store), JobKey(SUBSCRIPTIONS[0], "rg", "late"), cancelled_at=NOW - timedelta(days=100))
    complete_cancels_at(storage, NOW)
    # then the purge keeps it until exactly 90 days after the completion, and deletes it just after
    assert purge_at(storage, NOW + timedelta(days=90)).total_deleted == 0
    assert purge_at(storage, NOW + timedelta(days=90, microseconds=1)).deleted == {"Completed": 1}
    assert storage.store.get(key) is None


@pytest.mark.parametrize("resource_id", ["/not/a/job", 42], ids=["text", "a number"])
def test_an_entry_that_names_no_job_is_counted_and_left_while_the_others_complete(storage, resource_id):
    # given two pending cancels, and an entry beside them whose resource id is not a job's
    history = History(storage.store)
    keys = [pending(history, JobKey(SUBSCRIPTIONS[0], "rg", f"p-{i}")) for i in range(2)]
    [entry] = [e for e in storage.table.list_entities() if e["RowKey"].startswith("!cancel|") and e["JobRowKey"] == "rg:p-0"]
    storage.table.upsert_entity({**entry, "ResourceId": resource_id})
    keys = keys[1:]  # the damaged entry was p-0's
    # when the completion runs
    report = complete_cancels_at(storage, LATER)
    # then the two jobs are completed, and the damaged entry is reported and kept for an operator to look at
    assert report.completed == 1 and report.unreadable_entries == 1
    assert all(storage.store.get(key).job.state == JobState.COMPLETED for key in keys)
    assert "1 left for the next run" in report.summary()
    # and its day stays in the directory, however settled, so the next run sees it again
    complete_cancels_at(storage, LATER, directory_settle=timedelta(0))
    assert len(cancel_rows(storage)) == 1


class RecordingRequests:
    """A `raw_request_hook` that keeps the method of every storage request."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def __call__(self, request) -> None:
        self.methods.append(request.http_request.method)


def test_a_process_notes_a_pending_cancels_day_once_a_minute_at_most(fresh_app):
    # given a process that has created three jobs
    process_clock = FixedClock(NOW)
    recording = RecordingRequests()
    process = fresh_app(clock=process_clock, raw_request_hook=recording).storage
    keys = [JobKey(SUBSCRIPTIONS[0], "rg", f"c-{i}") for i in range(3)]
    for key in keys:
        jobs_over(process.store, process_clock).create_job(key, shippable_request(), Preconditions())

    def cancel(key: JobKey) -> int:
        recording.methods.clear()
        jobs_over(process.store, FixedClock(process_clock.now())).update_job(key, update_request(CANCEL), Preconditions())
        return len(recording.methods)

    # when it cancels one, another half a minute later, and a third a minute after that
    first = cancel(keys[0])
    process_clock.advance(timedelta(seconds=30))
    second = cancel(keys[1])
    process_clock.advance(timedelta(seconds=61))
    third = cancel(keys[2])
    # then the first notes the day, the second is the read and the write alone, and the third notes the day again
    assert (first, second, third) == (3, 2, 3)
    assert index_problems(process.table) == []


def test_a_pending_cancel_is_found_after_the_completion_dropped_its_subscription(fresh_app, monkeypatch):
    # given (at a small scale: a writer's memory of 1 s, a settle of 3 s) a process that cancelled a job, which a
    # completion elsewhere completed
    monkeypatch.setattr(directory_module, "CANCEL_NOTE_MEMORY", timedelta(seconds=1))
    settle = timedelta(seconds=3)
    process = fresh_app().storage
    service = jobs_over(process.store)
    first, second = JobKey(SUBSCRIPTIONS[0], "rg", "first"), JobKey(SUBSCRIPTIONS[0], "rg", "second")
    for key in (first, second):
        service.create_job(key, shippable_request(), Preconditions())
    service.update_job(first, update_request(CANCEL), Preconditions())
    elsewhere = fresh_app().storage
    assert complete_cancels_at(elsewhere, LATER, directory_settle=settle).completed == 1
    # when, the row settled, a completion drops it, and then the process cancels another job
    time.sleep(settle.total_seconds() + 0.5)
    complete_cancels_at(elsewhere, LATER, directory_settle=settle)
    assert cancel_rows(elsewhere) == []
    service.update_job(second, update_request(CANCEL), Preconditions())
    # then the process, whose memory had run out before the drop could happen, noted the day again: it is completed
    assert complete_cancels_at(elsewhere, LATER, directory_settle=settle).completed == 1
    assert index_problems(process.table) == []


def test_a_pending_cancel_is_due_the_moment_it_is_recorded(storage):
    # given a job cancelled at NOW exactly
    key = pending(History(storage.store), JobKey(SUBSCRIPTIONS[0], "rg", "at-once"), cancelled_at=NOW)
    # when a run happens at that same microsecond, then it completes the job: a pending cancel has no period to wait
    assert complete_cancels_at(storage, NOW).completed == 1
    assert storage.store.get(key).job.properties.completed_at == NOW


def test_a_job_that_cannot_be_read_is_skipped_and_the_other_subscriptions_still_complete(storage):
    # given pending cancels in two subscriptions, the first one's job body damaged out of band
    history = History(storage.store)
    damaged = pending(history, JobKey(SUBSCRIPTIONS[0], "rg", "damaged"))
    healthy = pending(history, JobKey(SUBSCRIPTIONS[1], "rg", "healthy"))
    storage.table.update_entity(
        {"PartitionKey": damaged.partition_key, "RowKey": damaged.row_key, "JobProperties": "{not json"}, mode="merge"
    )
    # when the completion runs
    report = complete_cancels_at(storage, LATER)
    # then the damaged job is skipped and reported with its keys, and the other subscription's job is completed
    assert report.completed == 1 and [row.row_key for row in report.skipped] == [damaged.row_key]
    assert storage.store.get(healthy).job.state == JobState.COMPLETED
