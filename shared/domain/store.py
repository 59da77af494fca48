"""The job store as the job operations use it: a small interface, with storage behind it (`shared.storage`).

Every write is conditional on the version the caller read; a store reports a lost race with azure-core's
exceptions, as the Table service does (`ResourceExistsError`, `ResourceModifiedError`, `ResourceNotFoundError`),
so a store over another service, or a test's own, says the same things the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .job import Job
from .job_filter import JobFilter
from .names import JobKey, Scope


@dataclass(frozen=True)
class StoredJob:
    """A job as stored, and the ETag of that version."""

    job: Job
    etag: str


@dataclass(frozen=True)
class JobPage:
    """One page of a listing: its jobs, and the token of the next page (None on the last)."""

    jobs: list[Job]
    next_skip_token: str | None


class JobStore(Protocol):
    """Jobs by key, each write one atomic, conditional change."""

    def get(self, key: JobKey) -> StoredJob | None:
        """The job as stored now, or None."""
        ...

    def insert(self, job: Job, *, headroom: int = 0) -> StoredJob:
        """Adds a new job; raises `ResourceExistsError` when a job with its key exists, and `RequestTooLarge` when it
        would not fit with `headroom` to spare (in the store's own units)."""
        ...

    def replace(self, job: Job, current: StoredJob, *, headroom: int = 0) -> StoredJob:
        """Writes `job` over `current` only if the stored job is still that version.

        Raises `ResourceModifiedError` when it changed, `ResourceNotFoundError` when it is gone, and
        `RequestTooLarge` when `job` would not fit with `headroom` to spare.
        """
        ...

    def delete(self, current: StoredJob) -> bool:
        """Deletes the job only if it is still at `current`; False when it was already gone.

        Raises `ResourceModifiedError` when it changed.
        """
        ...

    def list_jobs(self, scope: Scope, top: int, skip_token: str | None, *, job_filter: JobFilter | None = None) -> JobPage:
        """One page of the jobs in `scope` that meet `job_filter`, in key order; a token that the listing did not give
        out is `InvalidSkipToken`."""
        ...
