"""The expiry index stays in step with the jobs: one entry, carrying the job's ETag, per job that can expire."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.clock import FixedClock, SystemClock
from shared.jobs import JobService, Preconditions
from shared.models import JobCreateRequest, JobState, JobUpdateRequest
from shared.names import JobKey

from .conftest import shippable_body


def entries(store) -> list[dict]:
    return list(store.index.table.list_entities())


@pytest.fixture
def store(fresh_store):
    return fresh_store()


@pytest.fixture
def service(store):
    return JobService(store)


@pytest.fixture
def key(subscription_id) -> JobKey:
    return JobKey(subscription_id, "rg", "indexed")


def create(service, key):
    return service.create_job(key, JobCreateRequest.model_validate(shippable_body()), Preconditions())[0]


def patch(service, key, body):
    return service.update_job(key, JobUpdateRequest.model_validate(body), Preconditions())


def test_a_new_job_has_one_creating_entry_with_its_etag(store, service, key):
    stored = create(service, key)
    [entry] = entries(store)
    assert entry["PartitionKey"] == f"creating-{stored.job.properties.updated_at:%Y-%m-%d}"
    assert entry["JobEtag"] == stored.etag
    assert entry["ResourceId"] == key.resource_id
    assert entry["RowKey"].startswith(stored.job.properties.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def test_an_update_in_creating_moves_the_entry(store, service, key):
    create(service, key)
    updated = patch(service, key, {"tags": {"v": "2"}})
    [entry] = entries(store)
    assert entry["JobEtag"] == updated.etag
    assert entry["RowKey"].startswith(updated.job.properties.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def test_shipping_removes_the_entry_and_finishing_adds_one(store, service, key):
    create(service, key)
    patch(service, key, {"properties": {"state": "Shipping"}})
    assert entries(store) == []
    for state in (JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING):
        service.move_job(key, state, None)
    assert entries(store) == []
    at = SystemClock().now() - timedelta(days=100)
    done = JobService(store, FixedClock(SystemClock().now())).move_job(key, JobState.COMPLETED, None)
    [entry] = entries(store)
    assert (entry["PartitionKey"], entry["State"], entry["JobEtag"]) == (f"finished-{done.job.properties.completed_at:%Y-%m-%d}", "Completed", done.etag)
    # tags on a finished job keep its clock, and the entry follows the new ETag
    tagged = patch(service, key, {"tags": {"after": "done"}})
    [entry] = entries(store)
    assert entry["JobEtag"] == tagged.etag
    assert at < tagged.job.properties.completed_at


def test_cancel_in_creating_moves_the_entry_to_finished(store, service, key):
    create(service, key)
    cancelled = patch(service, key, {"properties": {"cancelRequested": True}})
    [entry] = entries(store)
    assert (entry["PartitionKey"], entry["State"], entry["JobEtag"]) == (f"finished-{cancelled.job.properties.completed_at:%Y-%m-%d}", "Completed", cancelled.etag)


def test_deleting_a_job_removes_its_entry(store, service, key):
    create(service, key)
    assert service.delete_job(key, Preconditions())
    assert entries(store) == []
