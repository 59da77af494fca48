"""Rule 6 of docs/contract.md: how long a job is kept, counted from when, by which of two countdowns.

A finished job (Completed, Closed) is kept for the retention after it finished; a job left in Creating for the
Creating expiry after its last update; a job with the datacenter is never deleted. The kind of countdown and its
start are what the expiry index stores beside a job (`shared.storage.expiry_index`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from .job import Job, JobState
from .state_machine import FINISHED


class ExpiryKind(StrEnum):
    """Which countdown to deletion runs for a job; its value is written in the expiry index's keys."""

    CREATING = "creating"  # from the last update of a job left in Creating
    FINISHED = "finished"  # from completedAt of a Completed or Closed job


@dataclass(frozen=True)
class Retention:
    """How long a job is kept after its countdown started, by kind."""

    finished: timedelta
    creating: timedelta

    def period(self, kind: ExpiryKind) -> timedelta:
        return self.finished if kind == ExpiryKind.FINISHED else self.creating

    def cutoff(self, kind: ExpiryKind, now: datetime) -> datetime:
        """Jobs whose countdown of `kind` started before this are expired at `now`."""
        try:
            return now - self.period(kind)
        except OverflowError:  # `now` within a period of datetime's first day: nothing can have expired yet
            return datetime.min.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class ExpiryStart:
    """Which countdown runs for a job, and when it started."""

    kind: ExpiryKind
    started: datetime


def expiry_start(job: Job) -> ExpiryStart | None:
    """The countdown that runs for the job and its start; None while the job is with the datacenter."""
    properties = job.properties
    if job.state in FINISHED and properties.completed_at is not None:
        return ExpiryStart(ExpiryKind.FINISHED, properties.completed_at)
    if job.state == JobState.CREATING and properties.updated_at is not None:
        return ExpiryStart(ExpiryKind.CREATING, properties.updated_at)
    return None


def is_expired(job: Job, now: datetime, retention: Retention) -> bool:
    """Rule 6 (docs/contract.md): finished jobs go after the retention, jobs left in Creating after the Creating expiry."""
    start = expiry_start(job)
    return start is not None and start.started < retention.cutoff(start.kind, now)
