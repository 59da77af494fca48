"""Rule 6 of docs/contract.md: how long a job is kept, counted from when, by which countdown; and rule 3's pending cancel.

A finished job (Completed, Closed) is kept for the retention after it finished; a job left in Creating for the
Creating expiry after its last update; a job with the datacenter is never deleted. A job in Creating whose cancel
is recorded is due at once, not for deletion but for completion (rule 3). The kind of countdown and its start are
what the expiry index stores beside a job (`shared.storage.expiry_index`).
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
    CANCEL_PENDING = "cancel"  # from the last update of a job in Creating with a cancel recorded: completed, never deleted

    @property
    def deletes(self) -> bool:
        """Whether the purge deletes a job when this countdown runs out (a pending cancel is completed instead)."""
        return self is not ExpiryKind.CANCEL_PENDING


# The countdowns that end in the purge's delete, in the order the purge reads them.
DELETION_KINDS = (ExpiryKind.CREATING, ExpiryKind.FINISHED)


@dataclass(frozen=True)
class Retention:
    """How long a job is kept after its countdown started, by kind."""

    finished: timedelta
    creating: timedelta

    def period(self, kind: ExpiryKind) -> timedelta:
        if not kind.deletes:
            raise ValueError(f"no job is deleted on the countdown {kind.value!r}")
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
        kind = ExpiryKind.CANCEL_PENDING if properties.cancel_requested else ExpiryKind.CREATING
        return ExpiryStart(kind, properties.updated_at)
    return None


def is_expired(job: Job, now: datetime, retention: Retention) -> bool:
    """Rule 6 (docs/contract.md): finished jobs go after the retention, jobs left in Creating after the Creating expiry;
    a job whose cancel is pending never (it is completed first, rule 3)."""
    start = expiry_start(job)
    return start is not None and start.kind.deletes and start.started < retention.cutoff(start.kind, now)
