"""The answers' bodies: a job, its BitLocker keys, a location, as ARM resources in the request's api-version."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..domain.job import SERVICE_RECORDS, Job, JobState
from ..domain.locations import LOCATION_ID_PREFIX, LOCATION_TYPE, Location, LocationCatalogue
from ..domain.names import RESOURCE_TYPE
from .versions import ApiVersion, show_job, show_location

# The copy has not started in these states, and the service shows no percentComplete in them.
BEFORE_THE_COPY = frozenset({JobState.CREATING, JobState.SHIPPING, JobState.RECEIVED})


def job_resource(job: Job, version: ApiVersion, *, location: str | None = None, drives: bool = True) -> dict[str, Any]:
    """The job as `version` of the API shows it, as the service shows it: `location` as given (the job's own by
    default), and without `driveList` when `drives` is False (a listing).

    BitLocker keys are write-only here, read only through listBitLockerKeys.
    """
    properties = job.properties.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=set(SERVICE_RECORDS))
    if job.state in BEFORE_THE_COPY:
        properties.pop("percentComplete", None)
    if not drives:
        properties.pop("driveList", None)
    for drive in properties.get("driveList", ()):
        drive.pop("bitLockerKey", None)
    resource: dict[str, Any] = {
        "id": job.key.resource_id,
        "name": job.name,
        "type": RESOURCE_TYPE,
        "location": job.location if location is None else location,
    }
    if job.tags:  # the service shows no tags where there are none
        resource["tags"] = job.tags
    resource["properties"] = properties
    recorded = job.properties
    system_data = {
        "createdBy": recorded.created_by,
        "createdByType": recorded.created_by_type,
        "createdAt": recorded.created_at and _utc_text(recorded.created_at),
        "lastModifiedBy": recorded.last_modified_by,
        "lastModifiedByType": recorded.last_modified_by_type,
        "lastModifiedAt": recorded.updated_at and _utc_text(recorded.updated_at),
    }
    return show_job(
        resource,
        version,
        system_data={name: value for name, value in system_data.items() if value is not None},
        identity={"type": "None"},  # jobs here have no managed identity
    )


def bitlocker_keys(job: Job) -> dict[str, Any]:
    """The drives' BitLocker keys, as listBitLockerKeys answers them."""
    return {
        "value": [
            {"driveId": drive.drive_id, "bitLockerKey": drive.bit_locker_key}
            for drive in job.properties.drive_list or ()
            if drive.bit_locker_key is not None and drive.drive_id is not None
        ]
    }


def location_resource(location: Location, version: ApiVersion) -> dict[str, Any]:
    """The location as `version` shows it."""
    # The API's examples put the display name in `name` ("West US") and the region name in the id.
    properties = location.properties.to_json_dict()
    properties["alternateLocations"] = [LOCATION_ID_PREFIX + name for name in location.alternate_names]
    resource = {"id": location.id, "name": location.display_name, "type": LOCATION_TYPE, "properties": properties}
    return show_location(resource, version)


def locations_body(catalogue: LocationCatalogue, version: ApiVersion) -> dict[str, Any]:
    return {"value": [location_resource(location, version) for location in catalogue.locations]}


def _utc_text(time: datetime) -> str:
    return time.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
