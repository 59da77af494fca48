"""The job operations over a real store, under races: a writer that loses the race re-reads and re-applies the rules,
or answers 412 when it pinned a version, or a retryable 503 when the contention outlasts its retries."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceModifiedError

from shared.domain.errors import Conflict, PreconditionFailed, ServiceUnavailable
from shared.domain.job import JobState
from shared.domain.jobs import CONTENDED_RETRY_AFTER_SECONDS, MAX_ATTEMPTS, Preconditions
from shared.domain.names import JobKey

from ..builders import jobs_over, shippable_request, update_request
from ..harness import PassThrough

CANCEL = update_request({"properties": {"cancelRequested": True}})
SHIP = update_request({"properties": {"state": "Shipping"}})


class InterferingStore(PassThrough):
    """The real store, but another writer's change lands just before this one's first conditional write."""

    def __init__(self, inner, interfere) -> None:
        super().__init__(inner)
        self.interfere = interfere
        self.conditional_writes = 0

    def before_conditional_write(self) -> None:
        self.conditional_writes += 1
        if self.conditional_writes == 1:
            self.interfere()

    def replace(self, job, current, **options):
        self.before_conditional_write()
        return self.inner.replace(job, current, **options)

    def delete(self, current):
        self.before_conditional_write()
        return self.inner.delete(current)


@pytest.fixture
def created(job_store, subscription_id):
    jobs = jobs_over(job_store)

    def make(name: str = "race-job") -> JobKey:
        key = JobKey(subscription_id, "rg", name)
        jobs.create_job(key, shippable_request(), Preconditions())
        return key

    return make


def test_a_cancel_that_loses_the_race_is_reapplied_and_keeps_the_other_change(job_store, created):
    # given a shipped job, and a tag update that lands between the cancel's read and write
    key = created()
    other = jobs_over(job_store)
    other.update_job(key, SHIP, Preconditions())
    tag_update = update_request({"tags": {"by": "other"}})
    racing = InterferingStore(job_store, lambda: other.update_job(key, tag_update, Preconditions()))
    # when the cancel is applied
    result = jobs_over(racing).update_job(key, CANCEL, Preconditions())
    # then it was retried once, and both changes are kept
    assert racing.conditional_writes == 2
    assert result.job.properties.cancel_requested is True
    assert job_store.get(key).job.tags == {"by": "other"}
    assert job_store.get(key).job.properties.cancel_requested is True


def test_with_if_match_a_lost_race_is_412_and_writes_nothing(job_store, created):
    key = created()
    other = jobs_over(job_store)
    etag = job_store.get(key).etag
    racing = InterferingStore(job_store, lambda: other.update_job(key, update_request({"tags": {"x": "y"}}), Preconditions()))
    with pytest.raises(PreconditionFailed):
        jobs_over(racing).update_job(key, CANCEL, Preconditions(if_match=etag))
    assert job_store.get(key).job.properties.cancel_requested is False


def test_a_delete_that_loses_the_race_to_shipping_is_refused(job_store, created):
    # given a job in Creating that gets shipped between the delete's check and its write
    key = created()
    other = jobs_over(job_store)
    racing = InterferingStore(job_store, lambda: other.update_job(key, SHIP, Preconditions()))
    # when it is deleted, the re-read sees Shipping and refuses
    with pytest.raises(Conflict, match="state Shipping"):
        jobs_over(racing).delete_job(key, Preconditions())
    assert job_store.get(key).job.state == JobState.SHIPPING


def test_an_operator_move_racing_a_cancel_keeps_both(job_store, created):
    key = created()
    other = jobs_over(job_store)
    other.update_job(key, SHIP, Preconditions())
    racing = InterferingStore(job_store, lambda: other.update_job(key, CANCEL, Preconditions()))
    moved = jobs_over(racing).move_job(key, JobState.RECEIVED, None)
    assert (moved.job.state, moved.job.properties.cancel_requested) == (JobState.RECEIVED, True)


class AlwaysOvertakenStore(PassThrough):
    """The real store, but another writer always gets there first."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.attempts = 0

    def replace(self, job, current, **options):
        self.attempts += 1
        raise ResourceModifiedError("another writer changed the job")


@pytest.mark.slow
def test_contention_that_outlasts_the_retries_is_a_retryable_503(job_store, created):
    # given a job that another writer changes before every one of our writes
    key = created()
    store = AlwaysOvertakenStore(job_store)
    # when a tag update keeps losing the race
    with pytest.raises(ServiceUnavailable) as raised:
        jobs_over(store).update_job(key, update_request({"tags": {"a": "b"}}), Preconditions())
    # then it tried every attempt and answers 503 ConcurrentUpdate with a Retry-After the clients honour
    assert store.attempts == MAX_ATTEMPTS
    assert raised.value.status == 503 and raised.value.code == "ConcurrentUpdate"
    assert raised.value.retry_after == CONTENDED_RETRY_AFTER_SECONDS
