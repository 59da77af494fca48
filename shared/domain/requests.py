"""What the job operations take: the bodies of PUT (create), PATCH (update) and the operator's move, as values.

Read from the wire by `shared.api.bodies`, each in its api-version's shapes (`shared.api.versions`); built in code
by tests and tools with `model_validate`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    PrivateAttr,
    StrictBool,
    StrictStr,
    StringConstraints,
    model_validator,
)

from .job import (
    ArmModel,
    DeliveryPackage,
    DriveStatus,
    IdentityDetails,
    JobDetails,
    JobState,
    LogLevel,
    ReturnAddress,
    ReturnShipping,
    SystemData,
    Tags,
    Text,
)


class JobCreateRequest(ArmModel):
    """The body of PUT (Create Job); `id`, `name` and `type` are accepted and ignored, as ARM does."""

    location: Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]
    tags: Tags = Field(default_factory=dict)
    properties: JobDetails
    id: Text | None = None
    name: Text | None = None
    type: Text | None = None
    system_data: SystemData | None = None
    identity: IdentityDetails | None = None

    # The job's properties the client's api-version does not define: it never saw them, so the job it sends back
    # cannot carry them, and a replace keeps the job's own.
    _unseen: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def unseen_properties(self) -> frozenset[str]:
        return self._unseen

    def cannot_see(self, properties: frozenset[str]) -> None:
        """Records the job properties (field names) that the client's api-version does not define."""
        self._unseen = properties

    @model_validator(mode="after")
    def _needs_account_and_type(self) -> JobCreateRequest:
        missing = [
            alias
            for alias, value in (
                ("storageAccountId", self.properties.storage_account_id),
                ("jobType", self.properties.job_type),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"properties.{' and properties.'.join(missing)} must be set")
        return self


def _empty_is_not_given(value: Any) -> Any:
    # The service takes "state": "" beside other fields as no state at all; the Python client's own live test sends it.
    return None if value == "" else value


class JobUpdateProperties(ArmModel):
    """`properties` of a PATCH: what a customer may change, each None when not given."""

    cancel_requested: StrictBool | None = None
    state: Annotated[JobState | None, BeforeValidator(_empty_is_not_given)] = None
    return_address: ReturnAddress | None = None
    return_shipping: ReturnShipping | None = None
    delivery_package: DeliveryPackage | None = None
    log_level: LogLevel | None = None
    backup_drive_manifest: StrictBool | None = None
    drive_list: Annotated[list[DriveStatus], Field(max_length=10)] | None = None


class JobUpdateRequest(ArmModel):
    """The body of PATCH (Update Job Properties)."""

    tags: Tags | None = None
    properties: JobUpdateProperties = Field(default_factory=JobUpdateProperties)


def _iso_text(value: Any) -> Any:
    # pydantic would read a number as Unix time (0 is 1970, a large one milliseconds); the contract says ISO-8601.
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 time with a time zone, as text")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


class OperatorMoveRequest(ArmModel):
    """The body of the operator's state move: the next state and, optionally, when it happened."""

    state: JobState
    at: IsoTime | None = None
