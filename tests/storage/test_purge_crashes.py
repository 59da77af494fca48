"""The purge under crashes and races: an operation or a purge cut short before any of its storage requests leaves
job and index in step, and the next purge deletes exactly what has expired; purges beside traffic and each other."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from shared.domain.clock import FixedClock
from shared.domain.errors import BadRequest, Conflict
from shared.domain.job import JobState
from shared.domain.jobs import Preconditions
from shared.domain.names import JobKey
from shared.domain.retention import is_expired

from ..builders import NOW, RETENTION, SUBSCRIPTIONS, History, jobs_over, shippable_request, update_request
from ..harness import (
    BeforeWrite,
    CrashBeforeRequest,
    InjectedCrash,
    complete_cancels_at,
    expiry_entries,
    index_problems,
    purge_at,
    surviving,
)


@pytest.mark.slow
def test_two_runs_at_once_delete_each_expired_job_once(storage):
    # given 240 expired jobs over three subscriptions and 30 that are not
    history = History(storage.store)
    expired = {
        history.cancelled(key, NOW - timedelta(days=100))
        if i % 2
        else history.job(key, JobState.CREATING, NOW - timedelta(days=100))
        for i, key in enumerate(JobKey(SUBSCRIPTIONS[i % 3], "rg", f"old-{i}") for i in range(240))
    }
    kept = {history.cancelled(JobKey(SUBSCRIPTIONS[i % 3], "rg", f"new-{i}"), NOW - timedelta(days=1)) for i in range(30)}
    reports = []
    # when two purges run at the same moment
    runs = [threading.Thread(target=lambda: reports.append(purge_at(storage, NOW))) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    # then every expired job was deleted exactly once between them, and nothing else
    assert sum(report.total_deleted for report in reports) == 240
    assert surviving(storage, expired | kept) == kept
    assert len(expiry_entries(storage.table)) == 30
    assert index_problems(storage.table) == []


# A job's state before an operation: a state, or "Creating with its cancel pending".
CANCELLED_IN_CREATING = "cancelled in Creating"


# Crash between any two storage writes: each operation is cut short before each of its writes in turn.
def _operations(history: History, key: JobKey):
    def update(body):
        return lambda service: service.update_job(key, update_request(body), Preconditions())

    return {
        "create": (None, lambda service: service.create_job(key, shippable_request(), Preconditions())),
        "replace in Creating": (JobState.CREATING, lambda service: service.create_job(key, shippable_request(), Preconditions())),
        "tags in Creating": (JobState.CREATING, update({"tags": {"v": "2"}})),
        "ship": (JobState.CREATING, update({"properties": {"state": "Shipping"}})),
        "cancel in Creating": (JobState.CREATING, update({"properties": {"cancelRequested": True}})),
        "complete a pending cancel": (CANCELLED_IN_CREATING, lambda service: service.complete_cancel(key)),
        "operator completes a pending cancel": (
            CANCELLED_IN_CREATING,
            lambda service: service.move_job(key, JobState.COMPLETED, None),
        ),
        "delete a pending cancel": (CANCELLED_IN_CREATING, lambda service: service.delete_job(key, Preconditions())),
        "tags when Completed": (JobState.COMPLETED, update({"tags": {"v": "2"}})),
        "complete, backdated": (
            JobState.PACKAGING,
            lambda service: service.move_job(key, JobState.COMPLETED, NOW - timedelta(days=100)),
        ),
        "close": (JobState.PACKAGING, lambda service: service.move_job(key, JobState.CLOSED, None)),
        "delete when Completed": (JobState.COMPLETED, lambda service: service.delete_job(key, Preconditions())),
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
            cancelled = pre_state == CANCELLED_IN_CREATING
            state = JobState.CREATING if cancelled else pre_state
            History(healthy.store).job(
                key,
                state,
                NOW - timedelta(days={JobState.CREATING: 20, JobState.COMPLETED: 100, JobState.PACKAGING: 120}[state]),
                cancel_requested=cancelled,
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
        purge_at(healthy, NOW + timedelta(hours=1))
        assert (healthy.store.get(key) is None) == (stored is None or should_go), (operation, at_request)
        # and, once the service has completed any cancel left pending, one far in the future deletes it whenever it
        # can expire at all: nothing is stranded
        complete_cancels_at(healthy, NOW + timedelta(hours=1))
        purge_at(healthy, NOW + timedelta(days=3650))
        survivor = healthy.store.get(key)
        assert survivor is None or survivor.job.state in (
            JobState.SHIPPING,
            JobState.RECEIVED,
            JobState.TRANSFERRING,
            JobState.PACKAGING,
        ), (
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
    kept = {
        history.job(JobKey(SUBSCRIPTIONS[i % 3], "rg", f"new-{i}"), JobState.CREATING, NOW - timedelta(days=1)) for i in range(20)
    }
    crash = CrashBeforeRequest(at_request)
    faulty = fresh_app(raw_request_hook=crash).storage
    crash.armed = True
    with pytest.raises(InjectedCrash):
        purge_at(faulty, NOW)
    finished = purge_at(healthy, NOW)
    assert surviving(healthy, expired | kept) == kept
    assert finished.complete
    assert len(expiry_entries(healthy.table)) == 20
    assert index_problems(healthy.table) == []


def test_a_purge_between_a_directory_write_and_its_job_write_keeps_the_directory_day(fresh_app):
    # given a job in Packaging that the datacenter completes with a time long past (already expired)
    healthy = fresh_app().storage
    key = History(healthy.store).job(JobKey(SUBSCRIPTIONS[0], "rg", "in-flight"), JobState.PACKAGING, NOW - timedelta(days=120))
    reports = []
    # write 1 adds that old day to the directory; the purge runs just before write 2, the job with its entry
    hook = BeforeWrite(2, lambda: reports.append(purge_at(healthy, NOW)))
    mover = fresh_app(raw_request_hook=hook).storage
    hook.armed = True
    # when the move and a purge interleave
    jobs_over(mover.store, FixedClock(NOW)).move_job(key, JobState.COMPLETED, NOW - timedelta(days=100))
    # then that purge found nothing on the day yet, and left the young directory row alone
    assert reports[0].total_deleted == 0
    assert index_problems(healthy.table) == []
    # and the next purge finds the finished job through it
    assert purge_at(healthy, NOW).deleted == {"Completed": 1}
    assert healthy.store.get(key) is None


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
    report = purge_at(healthy, NOW + timedelta(hours=1))
    stop.set()
    for worker in workers:
        worker.join()
    # then exactly the expired jobs went, and every busy one is still there
    assert report.total_deleted == 150
    assert surviving(healthy, expired) == set()
    assert surviving(healthy, set(busy)) == set(busy)
