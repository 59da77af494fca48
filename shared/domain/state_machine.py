"""The job state machine of the contract (docs/contract.md), as pure functions over `Job` values.

Nothing here reads or writes storage: every function takes a job and the time, and returns the new job or raises
the error the move deserves. The operator's moves are a table (`OPERATOR_MOVES`), read by the code and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from .clock import TimeOutOfRange, to_utc
from .errors import (
    BadRequest,
    InvalidJobState,
    InvalidMoveTime,
    InvalidStateTransition,
    ShippingInformationMissing,
)
from .job import SERVICE_OWNED_PROPERTIES, DriveState, DriveStatus, Job, JobProperties, JobState, ShippingInformation
from .names import JobKey
from .requests import JobCreateRequest, JobUpdateRequest

CANCELLABLE = frozenset({JobState.CREATING, JobState.SHIPPING, JobState.RECEIVED, JobState.TRANSFERRING})
DELETABLE = frozenset({JobState.CREATING, JobState.COMPLETED})
EDITABLE = frozenset({JobState.CREATING, JobState.SHIPPING})
FINISHED = frozenset({JobState.COMPLETED, JobState.CLOSED})


class WhenCancelled(Enum):
    """Whether an operator move is open to a job with a cancel recorded."""

    EITHER = "either"  # cancelled or not
    ONLY = "only"  # only with a cancel recorded
    NEVER = "never"  # only without one


@dataclass(frozen=True)
class OperatorMove:
    """A move the datacenter makes, from `source` to `target`, and when a recorded cancel allows it."""

    source: JobState
    target: JobState
    cancelled: WhenCancelled = WhenCancelled.EITHER
    # Why the move is refused when the job's cancel does not meet `cancelled`.
    refusal: str = ""

    def allows(self, cancel_requested: bool) -> bool:
        if self.cancelled is WhenCancelled.ONLY:
            return cancel_requested
        if self.cancelled is WhenCancelled.NEVER:
            return not cancel_requested
        return True


# The datacenter's moves (the contract's state table, operator rows).
OPERATOR_MOVES = (
    # The service completes a cancel recorded in Creating by itself (`complete_cancel`); the operator may do it first.
    OperatorMove(
        JobState.CREATING,
        JobState.COMPLETED,
        WhenCancelled.ONLY,
        "The job is in state Creating; the operator completes only a job whose cancel is pending.",
    ),
    OperatorMove(JobState.SHIPPING, JobState.RECEIVED),
    # The customer cannot be reached, cancelled or not.
    OperatorMove(JobState.SHIPPING, JobState.CLOSED),
    OperatorMove(
        JobState.RECEIVED,
        JobState.TRANSFERRING,
        WhenCancelled.NEVER,
        "The job is in state Received with a cancel requested; a cancelled job skips the copy and goes to Packaging.",
    ),
    OperatorMove(
        JobState.RECEIVED,
        JobState.PACKAGING,
        WhenCancelled.ONLY,
        "The job is in state Received; only a cancelled job goes from Received straight to Packaging.",
    ),
    OperatorMove(JobState.TRANSFERRING, JobState.PACKAGING),
    OperatorMove(JobState.PACKAGING, JobState.COMPLETED),
    # Shipped back with errors.
    OperatorMove(
        JobState.PACKAGING,
        JobState.CLOSED,
        WhenCancelled.NEVER,
        "The job is in state Packaging with a cancel requested; a cancelled job ends Completed, not Closed.",
    ),
)

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


def new_job(key: JobKey, request: JobCreateRequest, now: datetime, *, shipping_to: ShippingInformation | None) -> Job:
    """A job as created from `request`; `shipping_to` is where its location takes the drives (None when unknown)."""
    owned: dict[str, Any] = dict.fromkeys(SERVICE_OWNED_PROPERTIES)
    owned.update(
        # The service fills in where the drives go, from the job's location; whatever the client sent is ignored.
        shipping_information=shipping_to,
        state=JobState.CREATING,
        cancel_requested=False,
        provisioning_state="Succeeded",
        created_at=now,
        updated_at=now,
        state_changed_at=now,
    )
    properties = JobProperties(**{**dict(request.properties), **owned})
    if properties.drive_list is not None:  # the service shows each drive it was told of as Specified
        specified = [drive.model_copy(update={"state": DriveState.SPECIFIED}) for drive in properties.drive_list]
        properties = properties.model_copy(update={"drive_list": specified})
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


def replace_job(existing: Job, request: JobCreateRequest, now: datetime, *, shipping_to: ShippingInformation | None) -> Job:
    """PUT on an existing job: allowed only while it is still being created."""
    if existing.state != JobState.CREATING:
        raise InvalidJobState(f"The job is in state {existing.state}; it can be replaced only in state Creating.")
    replacement = new_job(existing.key, request, now, shipping_to=shipping_to)
    # A cancel, once recorded, stands (rule 3): a replacement does not withdraw it.
    kept = {
        name: getattr(existing.properties, name)
        for name in ("created_at", "state_changed_at", "created_by", "created_by_type", "cancel_requested")
    }
    # What the client's api-version does not define, it could not send back: the job keeps its own.
    kept.update({name: getattr(existing.properties, name) for name in request.unseen_properties})
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
        raise InvalidJobState(
            f"The job is in state {job.state}; {', '.join(_alias(n) for n in changes)} can be changed "
            "only in state Creating or Shipping."
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
    by_id: dict[str | None, DriveStatus] = {drive.drive_id: drive for drive in stored if drive.drive_id is not None}
    drives = []
    for drive in sent:
        known = by_id.get(drive.drive_id)
        update = {name: getattr(known, name) if known is not None else None for name in DRIVE_STATUS_FIELDS}
        if known is None:  # a drive the service was not told of before is Specified, as at creation
            update["state"] = DriveState.SPECIFIED
        if drive.bit_locker_key is None and known is not None:
            update["bit_locker_key"] = known.bit_locker_key
        drives.append(drive.model_copy(update=update))
    return drives


def _current_value(properties: JobProperties, name: str) -> Any:
    value = getattr(properties, name)
    return PROPERTY_DEFAULTS.get(name) if value is None else value


def _ship(current: JobState, properties: JobProperties, target: JobState, now: datetime) -> JobProperties:
    if current != JobState.CREATING or target != JobState.SHIPPING:
        raise InvalidStateTransition(
            f"The job is in state {current}; a customer can only move a job from Creating to Shipping, not to {target}."
        )
    if properties.cancel_requested:
        raise InvalidStateTransition(
            "The job is in state Creating with a cancel pending; a cancelled job is completed, never shipped."
        )
    missing = [
        alias
        for alias, value in (("returnAddress", properties.return_address), ("deliveryPackage", properties.delivery_package))
        if value is None
    ]
    if missing:
        raise ShippingInformationMissing(
            f"The job cannot move to Shipping before properties.{' and properties.'.join(missing)} "
            "are set, in this or an earlier request.",
            target=f"properties.{missing[0]}",
        )
    return properties.model_copy(
        update={"state": JobState.SHIPPING, "state_changed_at": _not_before(now, properties.state_changed_at)}
    )


def _cancel(current: JobState, properties: JobProperties, now: datetime) -> JobProperties:
    if current not in CANCELLABLE:
        raise InvalidJobState(f"The job is in state {current}; a job can be cancelled only before it is in state Packaging.")
    # Recorded, in every state: in Creating the service completes it soon after (`complete_cancel`), as the real
    # service answers the PATCH in Creating and moves the job on by itself.
    return properties.model_copy(update={"cancel_requested": True})


def cancel_pending(job: Job) -> bool:
    """Whether the service has a cancel to complete: recorded while the job is still in Creating (rule 3)."""
    return job.state == JobState.CREATING and job.properties.cancel_requested


def complete_cancel(job: Job, now: datetime) -> Job:
    """The service's own move of a job whose cancel is pending: Completed now, its retention counting from now.
    Returns `job` itself when it has no cancel pending (completed, shipped or replaced meanwhile)."""
    if not cancel_pending(job):
        return job
    moment = _not_before(now, _last_change(job))
    # The service's own move: `updated_at` (systemData's lastModifiedAt, beside the caller who cancelled) stays.
    update = {"state": JobState.COMPLETED, "state_changed_at": moment, "completed_at": moment}
    return job.model_copy(update={"properties": job.properties.model_copy(update=update)})


def move_job(job: Job, target: JobState, at: datetime | None, now: datetime) -> Job:
    """An operator's (datacenter's) move, which happened at `at` (default: now, or the job's last move if that is later)."""
    # A job in Creating moves only once its cancel is recorded: never to a time before that (its last update).
    last_move = _last_change(job) if job.state == JobState.CREATING else job.properties.state_changed_at
    if at is None:
        # Another instance, its clock a little ahead, may have made the last move "later" than this one's now.
        at = _not_before(now, last_move)
    else:
        try:
            at = to_utc(at)
        except TimeOutOfRange as error:
            raise InvalidMoveTime(f"The time of the move, {error}.", target="at") from error
        if at > now:
            raise InvalidMoveTime("The time of the move cannot be in the future.", target="at")
        if last_move is not None and at < last_move:
            raise InvalidMoveTime(
                f"The time of the move cannot be before the job's last move at {last_move.isoformat()}.", target="at"
            )
    moves = [move for move in OPERATOR_MOVES if move.source == job.state]
    move = next((move for move in moves if move.target == target), None)
    if move is None:
        open_moves = [move.target for move in moves if move.allows(job.properties.cancel_requested)]
        options = " or ".join(open_moves) if open_moves else "no other state"
        raise InvalidStateTransition(f"The job is in state {job.state}; the operator can move it to {options}, not to {target}.")
    if not move.allows(job.properties.cancel_requested):
        raise InvalidStateTransition(move.refusal)
    update: dict[str, Any] = {
        "state": target,
        "state_changed_at": at,
        "updated_at": now,
        "drive_list": _drives_moved(job.properties.drive_list, job.state, target),
    }
    if target in FINISHED:
        update["completed_at"] = at
    return job.model_copy(update={"properties": job.properties.model_copy(update=update)})


# What the datacenter's moves do to a job's drives (the API's DriveState): received with the package, copied while
# the job transfers, done when it is packed, and shipped back with it; a job closed in Shipping never got them.
DRIVES_AFTER_MOVE: dict[tuple[JobState, JobState], DriveState] = {
    (JobState.SHIPPING, JobState.RECEIVED): DriveState.RECEIVED,
    (JobState.SHIPPING, JobState.CLOSED): DriveState.NEVER_RECEIVED,
    (JobState.RECEIVED, JobState.TRANSFERRING): DriveState.TRANSFERRING,
    (JobState.RECEIVED, JobState.PACKAGING): DriveState.COMPLETED,
    (JobState.TRANSFERRING, JobState.PACKAGING): DriveState.COMPLETED,
    (JobState.PACKAGING, JobState.COMPLETED): DriveState.SHIPPED_BACK,
    (JobState.PACKAGING, JobState.CLOSED): DriveState.SHIPPED_BACK,
}


def _drives_moved(drives: list[DriveStatus] | None, source: JobState, target: JobState) -> list[DriveStatus] | None:
    state = DRIVES_AFTER_MOVE.get((source, target))
    if drives is None or state is None:
        return drives
    return [drive.model_copy(update={"state": state}) for drive in drives]


def _last_change(job: Job) -> datetime | None:
    """The later of the job's last move and last update: a move of a job in Creating comes after its cancel."""
    times = [moment for moment in (job.properties.state_changed_at, job.properties.updated_at) if moment is not None]
    return max(times) if times else None


def _not_before(now: datetime, last_move: datetime | None) -> datetime:
    """The time of a move made now: now, or the job's last move if another instance's clock put that later."""
    return now if last_move is None or last_move <= now else last_move


def check_deletable(job: Job) -> None:
    if job.state not in DELETABLE:
        raise InvalidJobState(f"The job is in state {job.state}; it can be deleted only in state Creating or Completed.")


def _alias(name: str) -> str:
    head, *rest = name.split("_")
    return "properties." + head + "".join(part.capitalize() for part in rest)
