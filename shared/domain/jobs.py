"""The job operations of the API: the state machine applied to the store, race-safe.

Every read-modify-write is conditional on the ETag that was read. When another
writer got there first the operation reads again and re-applies the rules,
unless the caller pinned a version with If-Match: then the answer is 412.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

from . import state_machine
from .access import KEY_CALLER, Caller
from .clock import Clock, SystemClock
from .errors import NotFound, PreconditionFailed, ServiceUnavailable
from .job import Job, JobState
from .job_filter import JobFilter
from .locations import LocationCatalogue
from .names import JobKey, Scope
from .requests import JobCreateRequest, JobUpdateRequest
from .store import JobPage, JobStore, StoredJob

# How often an operation re-reads and retries after losing a race before it gives up with a retryable 503.
MAX_ATTEMPTS = 12
# Before each retry it waits a random time up to a bound that doubles from the first (full jitter), so writers
# that collided spread out instead of colliding again; the waits add up to at most about 3 s, within the
# request's storage budget.
RETRY_BACKOFF_FIRST_SECONDS = 0.01
RETRY_BACKOFF_MAX_SECONDS = 0.5
# A customer's write leaves this much room (in the store's units) for what the service and the datacenter add later
# (states, times, drive states, who changed it), so that their moves of a job that was accepted always fit.
CUSTOMER_HEADROOM = 1000
# What the 503 asks the client to wait; every official client's retry policy retries a 503 after Retry-After.
CONTENDED_RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Preconditions:
    """The caller's If-Match / If-None-Match headers, as sent."""

    if_match: str | None = None
    if_none_match: str | None = None

    def check(self, current: StoredJob | None) -> None:
        if self.if_match is not None:
            if current is None or not _etag_matches(self.if_match, current.etag):
                raise PreconditionFailed(
                    "The job does not exist." if current is None else "The job has changed: its ETag does not match If-Match.",
                )
        if self.if_none_match is not None and current is not None and _etag_matches(self.if_none_match, current.etag):
            raise PreconditionFailed("The job already exists and If-None-Match forbids replacing it.")


def _etag_matches(header: str, etag: str) -> bool:
    header = header.strip()
    return header == "*" or header == etag or etag in (part.strip() for part in header.split(","))


class CancelCompletion(Enum):
    """What became of a job the service went to complete the pending cancel of (rule 3)."""

    COMPLETED = "completed"  # moved to Completed now
    NOT_PENDING = "not pending"  # no cancel pending when read: completed by the operator, or by another run
    GONE = "gone"  # deleted first
    LEFT = "left"  # still pending: left for the next run


@dataclass(frozen=True)
class CreateResult:
    """What a PUT did: the job as stored, and whether the PUT created it (201) or replaced it (200)."""

    stored: StoredJob
    created: bool


class JobService:
    """The API's job operations over `store`, at the times `clock` tells, for jobs in the `locations`."""

    def __init__(self, store: JobStore, clock: Clock | None = None, *, locations: LocationCatalogue) -> None:
        self._store = store
        self._clock = clock or SystemClock()
        self._locations = locations

    def get_job(self, key: JobKey) -> StoredJob:
        current = self._store.get(key)
        if current is None:
            raise _not_found(key)
        return current

    def create_job(
        self, key: JobKey, request: JobCreateRequest, preconditions: Preconditions, *, by: Caller = KEY_CALLER
    ) -> CreateResult:
        """PUT: creates the job, or replaces it while it is in Creating. Returns it and whether it is new.

        `by` (here and in every change) is who asked, as `systemData` records it; a key holder unless said.
        """
        # Checked before any storage call, so a job in an unknown location is never stored.
        shipping_to = self._locations.for_job(request.location).shipping_information()
        for attempt in range(MAX_ATTEMPTS):
            if preconditions.if_match is None:
                # Most PUTs create: try that first, and read only when the job turns out to exist.
                new = _changed_by(
                    state_machine.new_job(key, request, self._clock.now(), shipping_to=shipping_to), by, created=True
                )
                try:
                    return CreateResult(self._store.insert(new, headroom=CUSTOMER_HEADROOM), created=True)
                except ResourceExistsError:
                    pass
            current = self._store.get(key)
            preconditions.check(current)
            if current is None:
                continue  # deleted since the insert failed (If-Match would have stopped at the check): insert again
            try:
                replacement = _changed_by(
                    state_machine.replace_job(current.job, request, self._clock.now(), shipping_to=shipping_to), by
                )
                return CreateResult(self._store.replace(replacement, current, headroom=CUSTOMER_HEADROOM), created=False)
            except (ResourceModifiedError, ResourceNotFoundError):
                self._lost_race(preconditions, attempt)
        raise _too_contended(key)

    def update_job(
        self, key: JobKey, request: JobUpdateRequest, preconditions: Preconditions, *, by: Caller = KEY_CALLER
    ) -> StoredJob:
        """PATCH (Update Job Properties): cancel, ship or edit the job."""
        return self._modify(
            key, preconditions, lambda job, now: state_machine.update_job(job, request, now), by, headroom=CUSTOMER_HEADROOM
        )

    def move_job(self, key: JobKey, target: JobState, at: datetime | None, *, by: Caller = KEY_CALLER) -> StoredJob:
        """The operator's (datacenter's) state move."""
        return self._modify(key, Preconditions(), lambda job, now: state_machine.move_job(job, target, at, now), by)

    def complete_cancel(self, key: JobKey) -> CancelCompletion:
        """The service's completion of a cancel recorded in Creating (rule 3), judged from the job as read.

        The change is the service's own, so `systemData` keeps naming the caller who cancelled as the last to modify
        it. Raises `ServiceUnavailable` when writers keep colliding on the job.
        """
        completed = False

        def complete(job: Job, now: datetime) -> Job:
            nonlocal completed
            changed = state_machine.complete_cancel(job, now)
            completed = changed is not job  # the read that won decides
            return changed

        try:
            self._modify(key, Preconditions(), complete, None)
        except NotFound:
            return CancelCompletion.GONE
        return CancelCompletion.COMPLETED if completed else CancelCompletion.NOT_PENDING

    def delete_job(self, key: JobKey, preconditions: Preconditions) -> bool:
        """DELETE: True when the job was deleted, False when there was none."""
        for attempt in range(MAX_ATTEMPTS):
            current = self._store.get(key)
            preconditions.check(current)
            if current is None:
                return False
            state_machine.check_deletable(current.job)
            try:
                if self._store.delete(current):
                    return True
                # Deleted by someone else meanwhile: the next read says so.
            except ResourceModifiedError:
                self._lost_race(preconditions, attempt)
        raise _too_contended(key)

    def list_jobs(self, scope: Scope, top: int, skip_token: str | None, *, job_filter: JobFilter | None = None) -> JobPage:
        return self._store.list_jobs(scope, top, skip_token, job_filter=job_filter)

    def _modify(
        self,
        key: JobKey,
        preconditions: Preconditions,
        change: Callable[[Job, datetime], Job],
        by: Caller | None,
        *,
        headroom: int = 0,
    ) -> StoredJob:
        for attempt in range(MAX_ATTEMPTS):
            current = self._store.get(key)
            preconditions.check(current)
            if current is None:
                raise _not_found(key)
            changed = change(current.job, self._clock.now())
            if changed is current.job:
                return current
            try:
                return self._store.replace(changed if by is None else _changed_by(changed, by), current, headroom=headroom)
            except (ResourceModifiedError, ResourceNotFoundError):
                self._lost_race(preconditions, attempt)
        raise _too_contended(key)

    @staticmethod
    def _lost_race(preconditions: Preconditions, attempt: int) -> None:
        # The version the caller pinned is gone; retrying would act on one they never saw.
        if preconditions.if_match is not None or preconditions.if_none_match is not None:
            raise PreconditionFailed("The job changed while the request was being processed.")
        time.sleep(random.uniform(0, min(RETRY_BACKOFF_MAX_SECONDS, RETRY_BACKOFF_FIRST_SECONDS * 2**attempt)))


def _changed_by(job: Job, by: Caller, *, created: bool = False) -> Job:
    """`job` with who changed it last (and, when `created`, who created it): names and kinds, never a credential."""
    recorded = {"last_modified_by": by.name, "last_modified_by_type": by.type.value}
    if created:
        recorded.update(created_by=by.name, created_by_type=by.type.value)
    return job.model_copy(update={"properties": job.properties.model_copy(update=recorded)})


def _not_found(key: JobKey) -> NotFound:
    return NotFound(
        f"The Resource '{key.resource_id.split('/providers/', 1)[1]}' under resource group '{key.resource_group}' was not found.",
        code="ResourceNotFound",
    )


def _too_contended(key: JobKey) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"The job '{key.job_name}' is being changed by too many requests at once; retry after Retry-After seconds.",
        code="ConcurrentUpdate",
        retry_after=CONTENDED_RETRY_AFTER_SECONDS,
    )
