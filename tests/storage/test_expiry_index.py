"""The expiry index stays in step with the jobs: one entry beside each job that can expire, rewritten with it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.clock import FixedClock, SystemClock
from shared.domain.job import JobState
from shared.domain.jobs import Preconditions
from shared.domain.names import JobKey, Scope
from shared.domain.retention import ExpiryKind
from shared.storage.expiry_index import format_time

from ..builders import History, jobs_over, shippable_request, update_request
from ..harness import expiry_entries, index_problems


@pytest.fixture
def service(store):
    return jobs_over(store)


@pytest.fixture
def key(subscription_id) -> JobKey:
    return JobKey(subscription_id, "rg", "indexed")


def create(service, key):
    return service.create_job(key, shippable_request(), Preconditions()).stored


def patch(service, key, body):
    return service.update_job(key, update_request(body), Preconditions())


def test_a_new_job_has_one_creating_entry_beside_it(storage, store, service, key):
    # given a new job
    stored = create(service, key)
    # then its partition holds one entry keyed by its clock and the time of its last update
    [entry] = expiry_entries(storage.table)
    assert entry["PartitionKey"] == key.partition_key
    assert entry["RowKey"] == f"!creating|{format_time(stored.job.properties.updated_at)}|{key.row_key}"
    assert (entry["ResourceId"], entry["State"]) == (key.resource_id, "Creating")
    assert index_problems(storage.table) == []


def test_an_update_in_creating_moves_the_entry_to_the_new_time(storage, store, service, key):
    create(service, key)
    updated = patch(service, key, {"tags": {"v": "2"}})
    [entry] = expiry_entries(storage.table)
    assert entry["RowKey"] == f"!creating|{format_time(updated.job.properties.updated_at)}|{key.row_key}"


def test_shipping_removes_the_entry_and_finishing_adds_one(storage, store, service, key):
    create(service, key)
    patch(service, key, {"properties": {"state": "Shipping"}})
    assert expiry_entries(storage.table) == []
    for state in (JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING):
        service.move_job(key, state, None)
    assert expiry_entries(storage.table) == []
    done = jobs_over(store, FixedClock(SystemClock().now())).move_job(key, JobState.COMPLETED, None)
    [entry] = expiry_entries(storage.table)
    assert entry["RowKey"] == f"!finished|{format_time(done.job.properties.completed_at)}|{key.row_key}"
    assert entry["State"] == "Completed"


def test_tags_on_a_finished_job_keep_its_clock_and_rewrite_its_entry(storage, store, service, key):
    # given a job that finished 100 days ago
    at = SystemClock().now() - timedelta(days=100)
    History(store).job(key, JobState.COMPLETED, at)
    [before] = expiry_entries(storage.table)
    # when its tags change, now
    retagged = patch(service, key, {"tags": {"after": "done"}})
    # then the job keeps its clock: finished at `at`, 100 days ago, though it was written just now
    assert retagged.job.properties.completed_at == store.get(key).job.properties.completed_at == at
    assert retagged.job.properties.updated_at > at + timedelta(days=99)
    # and its entry keeps the key of the finish time, and has a new ETag: the entry names the job's version
    [after] = expiry_entries(storage.table)
    assert after["RowKey"] == before["RowKey"] == f"!finished|{format_time(at)}|{key.row_key}"
    assert after.metadata["etag"] != before.metadata["etag"]


def test_cancel_in_creating_moves_the_entry_to_the_pending_cancels(storage, store, service, key):
    create(service, key)
    cancelled = patch(service, key, {"properties": {"cancelRequested": True}})
    [entry] = expiry_entries(storage.table)
    assert entry["RowKey"] == f"!cancel|{format_time(cancelled.job.properties.updated_at)}|{key.row_key}"


def test_completing_a_cancel_moves_the_entry_to_finished(storage, store, service, key):
    create(service, key)
    patch(service, key, {"properties": {"cancelRequested": True}})
    service.complete_cancel(key)
    [entry] = expiry_entries(storage.table)
    completed = store.get(key).job
    assert entry["RowKey"] == f"!finished|{format_time(completed.properties.completed_at)}|{key.row_key}"


def test_deleting_a_job_removes_its_entry(storage, store, service, key):
    create(service, key)
    assert service.delete_job(key, Preconditions())
    assert expiry_entries(storage.table) == []


def test_entries_never_appear_in_a_listing(store, service, key, subscription_id):
    # given a job with its entry beside it
    create(service, key)
    # when the subscription and the resource group are listed
    by_subscription = store.list_jobs(Scope(subscription_id), 100, None).jobs
    by_group = store.list_jobs(Scope(subscription_id, "rg"), 100, None).jobs
    # then each lists the job alone
    assert [job.name for job in by_subscription] == [job.name for job in by_group] == ["indexed"]


def test_the_directory_lists_the_day_of_each_entry(storage, service, key):
    stored = create(service, key)
    day = stored.job.properties.updated_at.date()
    [page] = list(storage.directory.rows_through(ExpiryKind.CREATING, day))
    assert [(row.partition_key, sorted(row.days)) for row in page.rows] == [(key.partition_key, [day])]


def lose_the_entry(storage) -> None:
    """Out-of-band damage: the job's entry deleted by hand."""
    [entry] = expiry_entries(storage.table)
    storage.table.delete_entity(entry["PartitionKey"], entry["RowKey"])


@pytest.mark.parametrize(
    "write",
    [
        lambda service, key: patch(service, key, {"tags": {"v": "2"}}),
        lambda service, key: patch(service, key, {"properties": {"cancelRequested": True}}),
        lambda service, key: patch(service, key, {"properties": {"state": "Shipping"}}),
        lambda service, key: service.create_job(key, shippable_request(), Preconditions()),
    ],
    ids=["retag", "cancel", "ship", "replace"],
)
def test_any_write_of_a_job_whose_entry_went_missing_succeeds_and_heals_its_index(storage, service, key, write):
    # given a job in Creating whose expiry entry was deleted out of band, so the purge could never find it
    create(service, key)
    lose_the_entry(storage)
    assert index_problems(storage.table) != []
    # when it is written through the API, then the write succeeds, and the job has its entry again
    write(service, key)
    assert index_problems(storage.table) == []


def test_a_job_whose_entry_went_missing_can_still_be_deleted(storage, service, key):
    create(service, key)
    lose_the_entry(storage)
    assert service.delete_job(key, Preconditions())
    assert storage.store.get(key) is None
    assert index_problems(storage.table) == []
