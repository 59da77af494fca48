"""The job store against Azurite: conditional writes, key-range listing, size limits."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

from shared.domain.errors import RequestTooLarge
from shared.domain.names import JobKey, Scope

from ..builders import make_job


@pytest.fixture
def key(subscription_id) -> JobKey:
    return JobKey(subscription_id, "Store-RG", f"Job-{uuid.uuid4().hex[:6]}")


def test_insert_get_round_trip_keeps_every_field(job_store, key):
    job = make_job(key, logLevel="Verbose", driveList=[{"driveId": "D1", "bitLockerKey": "k", "state": "Specified"}])
    stored = job_store.insert(job)
    fetched = job_store.get(key)
    assert fetched.job == job
    assert fetched.etag == stored.etag


def test_insert_of_an_existing_key_fails_whatever_the_case(job_store, key):
    job_store.insert(make_job(key))
    with pytest.raises(ResourceExistsError):
        job_store.insert(make_job(JobKey(key.subscription_id, key.resource_group.upper(), key.job_name.lower())))


def test_replace_needs_the_current_etag(job_store, key):
    first = job_store.insert(make_job(key))
    second = job_store.replace(first.job.model_copy(update={"tags": {"v": "2"}}), first)
    with pytest.raises(ResourceModifiedError):
        job_store.replace(first.job.model_copy(update={"tags": {"v": "stale"}}), first)
    assert job_store.get(key).job.tags == {"v": "2"}
    assert job_store.get(key).etag == second.etag


def test_replace_of_a_deleted_job_fails(job_store, key):
    first = job_store.insert(make_job(key))
    job_store.delete(first)
    with pytest.raises(ResourceNotFoundError):
        job_store.replace(first.job, first)


def test_delete_needs_the_current_etag(job_store, key):
    first = job_store.insert(make_job(key))
    job_store.replace(first.job.model_copy(update={"tags": {"v": "2"}}), first)
    with pytest.raises(ResourceModifiedError):
        job_store.delete(first)
    assert job_store.get(key) is not None


def test_a_job_too_large_for_an_entity_is_413_before_writing(job_store, key):
    job = make_job(
        key,
        driveList=[
            {"manifestFile": "m" * 1000, "verboseLogUri": "v" * 1000, "errorLogUri": "e" * 1000, "manifestUri": "u" * 1000}
            for _ in range(10)
        ],
    )
    with pytest.raises(RequestTooLarge, match="limit is 32,000"):
        job_store.insert(job)
    assert job_store.get(key) is None


def test_listing_pages_through_one_group_only(job_store, subscription_id):
    for group, count in (("a", 5), ("a-b", 2), ("b", 1)):
        for i in range(count):
            job_store.insert(make_job(JobKey(subscription_id, group, f"j{i}")))
    seen, token, pages = [], None, 0
    while True:
        page = job_store.list_jobs(Scope(subscription_id, "A"), 2, token)
        seen += [(job.resource_group, job.name) for job in page.jobs]
        token = page.next_skip_token
        pages += 1
        if token is None:
            break
    assert seen == [("a", f"j{i}") for i in range(5)]
    assert pages >= 3
    everything = job_store.list_jobs(Scope(subscription_id), 100, None).jobs
    assert len(everything) == 8
