"""Rule 6 of the contract as pure rules: which countdown runs for a job, from when, and when it has run out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.domain import state_machine
from shared.domain.job import JobState
from shared.domain.retention import ExpiryKind, ExpiryStart, expiry_start, is_expired

from ..builders import RETENTION, T0, state_machine_job, update_request


@pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.CLOSED])
def test_finished_jobs_expire_after_the_retention(state):
    # given a job finished at T0
    job = state_machine_job(state)
    # then it is kept for exactly the retention
    assert not is_expired(job, T0 + timedelta(days=90), RETENTION)
    assert is_expired(job, T0 + timedelta(days=90, microseconds=1), RETENTION)


def test_creating_jobs_expire_after_the_creating_expiry_since_their_last_update():
    # given a job left in Creating, last updated five days after it was made
    job = state_machine.update_job(
        state_machine_job(JobState.CREATING), update_request({"tags": {"a": "b"}}), T0 + timedelta(days=5)
    )
    # then it is kept for the Creating expiry after that update
    assert not is_expired(job, T0 + timedelta(days=19), RETENTION)
    assert is_expired(job, T0 + timedelta(days=19, microseconds=1), RETENTION)


@pytest.mark.parametrize("state", [JobState.SHIPPING, JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING])
def test_jobs_in_flight_never_expire(state):
    assert expiry_start(state_machine_job(state)) is None
    assert not is_expired(state_machine_job(state), T0 + timedelta(days=10_000), RETENTION)


@pytest.mark.parametrize(
    ("state", "kind"),
    [(JobState.CREATING, ExpiryKind.CREATING), (JobState.COMPLETED, ExpiryKind.FINISHED), (JobState.CLOSED, ExpiryKind.FINISHED)],
)
def test_each_job_that_can_expire_has_one_countdown_started_by_its_own_time(state, kind):
    # given a job whose last change was at T0
    job = state_machine_job(state)
    # then its countdown is the kind its state says, started at that change
    assert expiry_start(job) == ExpiryStart(kind, T0)


def test_a_cutoff_before_the_first_representable_time_is_that_time():
    # given a moment within a retention of datetime's first day
    early = datetime(1, 2, 1, tzinfo=timezone.utc)
    # then nothing can have expired: the cutoff is the earliest time there is, not an overflow
    assert RETENTION.cutoff(ExpiryKind.FINISHED, early) == datetime.min.replace(tzinfo=timezone.utc)


def test_a_job_whose_cancel_is_pending_is_due_for_completion_from_its_last_update():
    # given a job cancelled in Creating at T0
    job = state_machine_job(JobState.CREATING, cancel_requested=True)
    # then its countdown is the pending cancel's, started then, and it is one the purge never deletes on
    assert expiry_start(job) == ExpiryStart(ExpiryKind.CANCEL_PENDING, T0)
    assert not ExpiryKind.CANCEL_PENDING.deletes


def test_a_job_whose_cancel_is_pending_never_expires():
    # given a job cancelled in Creating at T0, never completed
    job = state_machine_job(JobState.CREATING, cancel_requested=True)
    # then however long it waits, it is never deleted as expired (it is completed first)
    assert not is_expired(job, T0 + timedelta(days=10_000), RETENTION)


def test_a_pending_cancel_has_no_retention_period():
    with pytest.raises(ValueError, match="no job is deleted on the countdown 'cancel'"):
        RETENTION.period(ExpiryKind.CANCEL_PENDING)


def test_a_completed_cancel_is_kept_for_the_retention_from_its_completion():
    # given a job cancelled in Creating at T0 and completed by the service a minute later
    job = state_machine.complete_cancel(state_machine_job(JobState.CREATING, cancel_requested=True), T0 + timedelta(minutes=1))
    # then its retention counts from the completion, not from the cancel
    assert expiry_start(job) == ExpiryStart(ExpiryKind.FINISHED, T0 + timedelta(minutes=1))
    assert not is_expired(job, T0 + timedelta(days=90, minutes=1), RETENTION)
    assert is_expired(job, T0 + timedelta(days=90, minutes=1, microseconds=1), RETENTION)


# (state, period) of each countdown that deletes; the job's countdown starts at T0.
DELETING_COUNTDOWNS = [
    (JobState.COMPLETED, timedelta(days=90)),
    (JobState.CLOSED, timedelta(days=90)),
    (JobState.CREATING, timedelta(days=14)),
]


@pytest.mark.parametrize(("state", "period"), DELETING_COUNTDOWNS, ids=[state.value for state, _ in DELETING_COUNTDOWNS])
@pytest.mark.parametrize(
    ("offset", "expired"),
    [(timedelta(microseconds=-1), False), (timedelta(0), False), (timedelta(microseconds=1), True)],
    ids=["just before", "at", "just after"],
)
def test_a_countdown_runs_out_only_once_it_is_older_than_its_period(state, period, offset, expired):
    # given a job whose countdown started at T0, then at exactly T0 + period it is not yet "older than" the period
    assert is_expired(state_machine_job(state), T0 + period + offset, RETENTION) is expired
