"""Fixtures of the storage tier: a jobs table of the test's own, and jobs on both sides of every expiry line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.app import Storage
from shared.domain.job import JobState
from shared.domain.names import JobKey

from ..builders import NOW, SUBSCRIPTIONS, History


@pytest.fixture
def storage(fresh_app) -> Storage:
    """A jobs table of the test's own and what is built over it."""
    return fresh_app().storage


@pytest.fixture
def store(storage):
    """The store over the test's own jobs table."""
    return storage.store


@pytest.fixture
def mixed(store):
    """Jobs on both sides of every expiry line, as of NOW; returns (expired keys, kept keys)."""
    history = History(store)
    cases = [
        (JobState.COMPLETED, NOW - timedelta(days=91), True),
        (JobState.COMPLETED, NOW - timedelta(days=89), False),
        (JobState.CLOSED, NOW - timedelta(days=120), True),
        (JobState.CLOSED, NOW - timedelta(days=30), False),
        (JobState.CREATING, NOW - timedelta(days=15), True),
        (JobState.CREATING, NOW - timedelta(days=13), False),
        (JobState.SHIPPING, NOW - timedelta(days=400), False),
        (JobState.RECEIVED, NOW - timedelta(days=400), False),
        (JobState.TRANSFERRING, NOW - timedelta(days=400), False),
        (JobState.PACKAGING, NOW - timedelta(days=400), False),
    ]
    expired, kept = set(), set()
    for index, (state, when, expires) in enumerate(cases):
        key = history.job(JobKey(SUBSCRIPTIONS[index % 3], "rg", f"{state.value.lower()}-{index}"), state, when)
        (expired if expires else kept).add(key)
    return expired, kept
