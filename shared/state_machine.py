"""The job state machine of the contract, as pure functions over `Job` values.

Nothing here reads or writes storage: every function takes a job and the time,
and returns the new job or raises the ARM error the move deserves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import NamedTuple

from .clock import TimeOutOfRange, to_utc
from .errors import BadRequest, Conflict
from .locations import Location
from .models import SERVICE_OWNED_PROPERTIES, DriveStatus, Job, JobCreateRequest, JobProperties, JobState, JobUpdateRequest
from .names import JobKey

S = JobState

CANCELLABLE = frozenset({S.CREATING, S.SHIPPING, S.RECEIVED, S.TRANSFERRING})
DELETABLE = frozenset({S.CREATING, S.COMPLETED})
EDITABLE = frozenset({S.CREATING, S.SHIPPING})
FINISHED = frozenset({S.COMPLETED, S.CLOSED})

# The datacenter's moves; conditions on cancelRequested are checked in `move_job`.
OPERATOR_MOVES: dict[JobState, tuple[JobState, ...]] = {
    S.SHIPPING: (S.RECEIVED, S.CLOSED),
    S.RECEIVED: (S.TRANSFERRING, S.PACKAGING),
    S.TRANSFERRING: (S.PACKAGING,),
    S.PACKAGING: (S.COMPLETED, S.CLOSED),
}

# What an unset property means, as the API's specification defaults it.
PROPERTY_DEFAULTS = {"backup_drive_manifest": False}

# The properties a customer may change with PATCH besides `state`, `cancelRequested` and tags.
EDITABLE_PROPERTIES = (
    "return_address",
    "return_shipping",
    "delivery_package",
    "log_level",
    "backup_drive_manifest",
    "drive_list",
)


def new_job(key: JobKey, request: JobCreateRequest, now: datetime, *, location: Location) -> Job:
    """A job as created in `location`, the catalogue's entry for `request.location`."""
    owned = dict.fromkeys(SERVICE_OWNED_PROPERTIES)
    owned.update(
        # The service fills in where the drives go, from the job's location; whatever the client sent is ignored.
        shipping_information=location.shipping_information(),
        state=S.CREATING,
        cancel_requested=False,
        percent_complete=0,
        provisioning_state="Succeeded",
        created_at=now,
        updated_at=now,
        state_changed_at=now,
    )
    properties = JobProperties(**{**dict(request.properties), **owned})
    return Job(
        subscription_id=key.subscription_id,
        resource_group=key.resource_group,
        name=key.job_name,
        # Kept as the client sent it ("West US" or "westus"): the API's examples create a job in "West US" and
        # show it in "West US", not in the region name the service resolved it to.
        location=request.location,
        tags=request.tags,
        properties=properties,
    )


def replace_job(existing: Job, request: JobCreateRequest, now: datetime, *, location: Location) -> Job:
    """PUT on an existing job: allowed only while it is still being created."""
    if existing.state != S.CREATING:
        raise Conflict(
            f"The job is in state {existing.state}; it can be replaced only in state Creating.",
            code="InvalidJobState",
        )
    replacement = new_job(existing.key, request, now, location=location)
    kept = {"created_at": existing.properties.created_at, "state_changed_at": existing.properties.state_changed_at}
    if request.api_version is not None and not request.api_version.has_resource_metadata:
        # A 2016-11-01 client never sees a job's encryptionKey, so the job it sends back cannot carry it.
        kept["encryption_key"] = existing.properties.encryption_key
    properties = replacement.properties.model_copy(update=kept)
    return replacement.model_copy(update={"properties": properties})


def update_job(job: Job, request: JobUpdateRequest, now: datetime) -> Job:
    """PATCH (Update Job Properties): cancel, ship, or edit. Returns `job` itself when nothing changes."""
    wanted = request.properties
    if wanted.drive_list is not None:
        wanted = wanted.model_copy(
            update={"drive_list": _drives_as_sent_back(job.properties.drive_list or [], wanted.drive_list)}
        )
    # `cancelRequested: false` withdraws nothing (a cancel, once recorded, stands): clients send it on every update.
    if wanted.cancel_requested and wanted.state is not None and wanted.state != job.state:
        raise BadRequest(
            "A request cannot both cancel the job and set properties.state.",
            code="InvalidRequestContent",
            target="properties.state",
        )

    # A value equal to the job's is no change, so it is never refused for the job's state: clients send their
    # defaults (backupDriveManifest: false) on every update.
    changes = {
        name: value
        for name in EDITABLE_PROPERTIES
        if (value := getattr(wanted, name)) is not None and value != _current_value(job.properties, name)
    }
    if changes and job.state not in EDITABLE:
        raise Conflict(
            f"The job is in state {job.state}; {', '.join(_alias(n) for n in changes)} can be changed "
            "only in state Creating or Shipping.",
            code="InvalidJobState",
        )
    properties = job.properties.model_copy(update=changes)

    if wanted.state is not None and wanted.state != job.state:
        properties = _ship(job.state, properties, wanted.state, now)
    if wanted.cancel_requested and not job.properties.cancel_requested:
        properties = _cancel(job.state, properties, now)

    tags = job.tags if request.tags is None else request.tags
    if properties == job.properties and tags == job.tags:
        return job
    return job.model_copy(update={"tags": tags, "properties": properties.model_copy(update={"updated_at": now})})


# What the datacenter reports of a drive: a customer's PATCH never sets it (a client sends back what it read).
DRIVE_STATUS_FIELDS = (
    "state",
    "copy_status",
    "percent_complete",
    "verbose_log_uri",
    "error_log_uri",
    "manifest_uri",
    "bytes_succeeded",
)


def _drives_as_sent_back(stored: list[DriveStatus], sent: list[DriveStatus]) -> list[DriveStatus]:
    """The drive list a PATCH asks for, read as a client sends a job back: a drive's BitLocker key (which no answer
    shows) is kept when the drive comes without one, and the drive's status stays the datacenter's."""
    by_id = {drive.drive_id: drive for drive in stored if drive.drive_id is not None}
    drives = []
    for drive in sent:
        known = by_id.get(drive.drive_id)
        update = {name: getattr(known, name) if known is not None else None for name in DRIVE_STATUS_FIELDS}
        if drive.bit_locker_key is None and known is not None:
            update["bit_locker_key"] = known.bit_locker_key
        drives.append(drive.model_copy(update=update))
    return drives


def _current_value(properties: JobProperties, name: str):
    value = getattr(properties, name)
    return PROPERTY_DEFAULTS.get(name) if value is None else value


def _ship(current: JobState, properties: JobProperties, target: JobState, now: datetime) -> JobProperties:
    if current != S.CREATING or target != S.SHIPPING:
        raise Conflict(
            f"The job is in state {current}; a customer can only move a job from Creating to Shipping, not to {target}.",
            code="InvalidStateTransition",
        )
    missing = [
        alias
        for alias, value in (("returnAddress", properties.return_address), ("deliveryPackage", properties.delivery_package))
        if value is None
    ]
    if missing:
        raise BadRequest(
            f"The job cannot move to Shipping before properties.{' and properties.'.join(missing)} "
            "are set, in this or an earlier request.",
            code="ShippingInformationMissing",
            target=f"properties.{missing[0]}",
        )
    return properties.model_copy(update={"state": S.SHIPPING, "state_changed_at": now})


def _cancel(current: JobState, properties: JobProperties, now: datetime) -> JobProperties:
    if current not in CANCELLABLE:
        raise Conflict(
            f"The job is in state {current}; a job can be cancelled only before it is in state Packaging.",
            code="InvalidJobState",
        )
    if current == S.CREATING:
        # Nothing has shipped, so the cancel takes effect at once.
        return properties.model_copy(
            update={"cancel_requested": True, "state": S.COMPLETED, "state_changed_at": now, "completed_at": now}
        )
    return properties.model_copy(update={"cancel_requested": True})


def move_job(job: Job, target: JobState, at: datetime | None, now: datetime) -> Job:
    """An operator's (datacenter's) move, which happened at `at` (default: now)."""
    try:
        at = now if at is None else to_utc(at)
    except TimeOutOfRange as error:
        raise BadRequest(f"The time of the move, {error}.", code="InvalidMoveTime", target="at") from error
    if at > now:
        raise BadRequest("The time of the move cannot be in the future.", code="InvalidMoveTime", target="at")
    last_move = job.properties.state_changed_at
    if last_move is not None and at < last_move:
        raise BadRequest(
            f"The time of the move cannot be before the job's last move at {last_move.isoformat()}.",
            code="InvalidMoveTime",
            target="at",
        )
    allowed = OPERATOR_MOVES.get(job.state, ())
    if target not in allowed:
        options = " or ".join(allowed) if allowed else "no other state"
        raise Conflict(
            f"The job is in state {job.state}; the operator can move it to {options}, not to {target}.",
            code="InvalidStateTransition",
        )
    cancelled = job.properties.cancel_requested
    if job.state == S.RECEIVED and target == S.TRANSFERRING and cancelled:
        raise Conflict(
            "The job is in state Received with a cancel requested; a cancelled job skips the copy and goes to Packaging.",
            code="InvalidStateTransition",
        )
    if job.state == S.RECEIVED and target == S.PACKAGING and not cancelled:
        raise Conflict(
            "The job is in state Received; only a cancelled job goes from Received straight to Packaging.",
            code="InvalidStateTransition",
        )
    if job.state == S.PACKAGING and target == S.CLOSED and cancelled:
        raise Conflict(
            "The job is in state Packaging with a cancel requested; a cancelled job ends Completed, not Closed.",
            code="InvalidStateTransition",
        )
    update = {"state": target, "state_changed_at": at, "updated_at": now}
    if target in FINISHED:
        update["completed_at"] = at
    return job.model_copy(update={"properties": job.properties.model_copy(update=update)})


def check_deletable(job: Job) -> None:
    if job.state not in DELETABLE:
        raise Conflict(
            f"The job is in state {job.state}; it can be deleted only in state Creating or Completed.",
            code="InvalidJobState",
        )


class ExpiryClock(StrEnum):
    """What starts a job's countdown to deletion (rule 6 of docs/contract.md)."""

    CREATING = "creating"  # the last update of a job left in Creating
    FINISHED = "finished"  # completedAt of a Completed or Closed job


@dataclass(frozen=True)
class Retention:
    """How long each kind of job is kept after its clock started."""

    finished: timedelta
    creating: timedelta

    def period(self, clock: ExpiryClock) -> timedelta:
        return self.finished if clock == ExpiryClock.FINISHED else self.creating

    def cutoff(self, clock: ExpiryClock, now: datetime) -> datetime:
        """Jobs whose clock started before this are expired at `now`."""
        try:
            return now - self.period(clock)
        except OverflowError:  # `now` within a period of datetime's first day: nothing can have expired yet
            return datetime.min.replace(tzinfo=timezone.utc)


class ClockStart(NamedTuple):
    """Which clock runs for a job, and when it started."""

    clock: ExpiryClock
    started: datetime


def expiry_clock(job: Job) -> ClockStart | None:
    """Which clock runs for the job and when it started; None while the job is with the datacenter."""
    properties = job.properties
    if job.state in FINISHED and properties.completed_at is not None:
        return ClockStart(ExpiryClock.FINISHED, properties.completed_at)
    if job.state == S.CREATING and properties.updated_at is not None:
        return ClockStart(ExpiryClock.CREATING, properties.updated_at)
    return None


def is_expired(job: Job, now: datetime, retention: Retention) -> bool:
    """Rule 6 (docs/contract.md): finished jobs go after the retention, jobs left in Creating after the Creating expiry."""
    clock = expiry_clock(job)
    return clock is not None and clock.started < retention.cutoff(clock.clock, now)


def _alias(name: str) -> str:
    head, *rest = name.split("_")
    return "properties." + head + "".join(part.capitalize() for part in rest)
