"""Room for the service: a customer's write leaves room for what the service and the datacenter add to a job later,
so every move of a job that was accepted fits; a job that no longer fits stops nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain import state_machine
from shared.domain.errors import RequestTooLarge
from shared.domain.job import JobState
from shared.domain.jobs import CUSTOMER_HEADROOM, Preconditions
from shared.domain.names import JobKey
from shared.domain.requests import JobCreateRequest
from shared.storage.entities import PROPERTIES_COLUMN, job_entity
from shared.storage.sizes import MAX_PROPERTY_UNITS, utf16_units

from ..builders import CANCEL, NOW, SUBSCRIPTIONS, History, jobs_over, shippable_body, update_request
from ..harness import complete_cancels_at


def export_request(padding: int) -> JobCreateRequest:
    """A shippable export job whose blob paths take about `padding` characters of its properties."""
    paths = ["/c/" + "p" * 1020] * (padding // 1024) + ["/" + "q" * (padding % 1024 or 1)]
    body = shippable_body(jobType="Export", export={"blobList": {"blobPath": paths}})
    return JobCreateRequest.model_validate(body)


def largest_accepted(service, key: JobKey) -> int:
    """Creates the largest job the customer may (its properties' units), trying smaller paddings until one fits."""
    for padding in range(MAX_PROPERTY_UNITS, 20_000, -50):
        try:
            stored = service.create_job(key, export_request(padding), Preconditions())
        except RequestTooLarge:
            continue
        return utf16_units(job_entity(stored.stored.job)[PROPERTIES_COLUMN])
    raise AssertionError("no padding fits")


def test_the_largest_job_a_customer_may_write_leaves_the_room_it_promises(storage):
    size = largest_accepted(jobs_over(storage.store), JobKey(SUBSCRIPTIONS[0], "rg", "largest"))
    assert MAX_PROPERTY_UNITS - CUSTOMER_HEADROOM - 60 <= size <= MAX_PROPERTY_UNITS - CUSTOMER_HEADROOM


@pytest.mark.parametrize("cancelled", [False, True], ids=["shipped and finished", "cancelled in Shipping"])
def test_every_move_of_the_largest_job_a_customer_may_write_fits(storage, cancelled):
    # given the largest job a customer may write, shipped (and cancelled)
    key = JobKey(SUBSCRIPTIONS[0], "rg", "moved")
    service = jobs_over(storage.store)
    largest_accepted(service, key)
    service.update_job(key, update_request({"properties": {"state": "Shipping"}}), Preconditions())
    if cancelled:
        service.update_job(key, update_request(CANCEL), Preconditions())
    # when the datacenter moves it to its end, then every move is written
    path = (
        [JobState.RECEIVED, JobState.PACKAGING, JobState.COMPLETED]
        if cancelled
        else [
            JobState.RECEIVED,
            JobState.TRANSFERRING,
            JobState.PACKAGING,
            JobState.COMPLETED,
        ]
    )
    for state in path:
        service.move_job(key, state, None)
    assert storage.store.get(key).job.state == JobState.COMPLETED


def test_the_service_completes_the_cancel_of_the_largest_job_a_customer_may_write(storage):
    key = JobKey(SUBSCRIPTIONS[0], "rg", "cancelled")
    service = jobs_over(storage.store)
    largest_accepted(service, key)
    service.update_job(key, update_request(CANCEL), Preconditions())
    assert complete_cancels_at(storage, NOW + timedelta(minutes=1)).completed == 1


def test_a_job_that_no_longer_fits_is_skipped_and_the_other_cancels_still_complete(storage):
    # given a pending cancel of a job written before room was kept (right at the property limit), and another one
    tight, other = JobKey(SUBSCRIPTIONS[0], "rg", "tight"), JobKey(SUBSCRIPTIONS[1], "rg", "other")
    for padding in range(MAX_PROPERTY_UNITS, 20_000, -10):
        job = state_machine.new_job(tight, export_request(padding), NOW, shipping_to=None)
        try:  # written as an earlier version wrote it: the store alone, no room kept
            stored = storage.store.insert(job)
            break
        except RequestTooLarge:
            continue
    storage.store.replace(state_machine.update_job(stored.job, update_request(CANCEL), NOW), stored)
    history = History(storage.store)
    history.create(other, NOW)
    history.update(other, NOW, CANCEL)
    # when the completion runs, then the job that cannot grow is skipped with its keys, and the other is completed
    report = complete_cancels_at(storage, NOW + timedelta(minutes=1))
    assert report.completed == 1
    assert [row.row_key for row in report.skipped] == [tight.row_key]
    assert storage.store.get(other).job.state == JobState.COMPLETED
