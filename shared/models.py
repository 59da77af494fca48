"""The job resource and the request bodies, in the ARM JSON shapes of Microsoft.ImportExport."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .names import RESOURCE_TYPE, JobKey


class JobState(StrEnum):
    CREATING = "Creating"
    SHIPPING = "Shipping"
    RECEIVED = "Received"
    TRANSFERRING = "Transferring"
    PACKAGING = "Packaging"
    COMPLETED = "Completed"
    CLOSED = "Closed"


class DriveState(StrEnum):
    SPECIFIED = "Specified"
    RECEIVED = "Received"
    NEVER_RECEIVED = "NeverReceived"
    TRANSFERRING = "Transferring"
    COMPLETED = "Completed"
    COMPLETED_MORE_INFO = "CompletedMoreInfo"
    SHIPPED_BACK = "ShippedBack"


Text = Annotated[StrictStr, StringConstraints(max_length=1024)]
ShortText = Annotated[StrictStr, StringConstraints(max_length=256)]
RequiredText = Annotated[StrictStr, StringConstraints(min_length=1, max_length=256)]
Count = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
Percent = Annotated[StrictInt, Field(ge=0, le=100)]
# ARM's tag limits: 50 tags, names up to 512 characters, values up to 256.
Tags = Annotated[
    dict[Annotated[StrictStr, StringConstraints(min_length=1, max_length=512)], ShortText],
    Field(max_length=50),
]


class ArmModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ReturnAddress(ArmModel):
    recipient_name: RequiredText
    street_address1: RequiredText
    street_address2: ShortText | None = None
    city: RequiredText
    state_or_province: ShortText | None = None
    postal_code: RequiredText
    country_or_region: RequiredText
    phone: RequiredText
    email: RequiredText


class ReturnShipping(ArmModel):
    carrier_name: RequiredText
    carrier_account_number: RequiredText


class ShippingInformation(ArmModel):
    recipient_name: ShortText | None = None
    street_address1: ShortText | None = None
    street_address2: ShortText | None = None
    city: ShortText | None = None
    state_or_province: ShortText | None = None
    postal_code: ShortText | None = None
    country_or_region: ShortText | None = None
    phone: ShortText | None = None
    additional_information: ShortText | None = None


class PackageInformation(ArmModel):
    carrier_name: RequiredText
    tracking_number: RequiredText
    drive_count: Count
    ship_date: RequiredText


class DriveStatus(ArmModel):
    drive_id: ShortText | None = None
    bit_locker_key: ShortText | None = None
    manifest_file: Text | None = None
    manifest_hash: ShortText | None = None
    drive_header_hash: ShortText | None = None
    state: DriveState | None = None
    copy_status: ShortText | None = None
    percent_complete: Percent | None = None
    verbose_log_uri: Text | None = None
    error_log_uri: Text | None = None
    manifest_uri: Text | None = None
    bytes_succeeded: Annotated[StrictInt, Field(ge=0)] | None = None


class BlobList(ArmModel):
    blob_path: Annotated[list[Text], Field(max_length=100)] | None = None
    blob_path_prefix: Annotated[list[Text], Field(max_length=100)] | None = None


class Export(ArmModel):
    blob_list: BlobList | None = None
    # API 2016-11-01 spells it "blobListblobPath"; later versions "blobListBlobPath".
    blob_list_blob_path: Text | None = Field(
        default=None, validation_alias=AliasChoices("blobListBlobPath", "blobListblobPath")
    )


class EncryptionKeyDetails(ArmModel):
    kek_type: Literal["MicrosoftManaged", "CustomerManaged"] | None = None
    kek_url: Text | None = None
    kek_vault_resource_id: Text | None = Field(default=None, alias="kekVaultResourceID")


class JobProperties(ArmModel):
    storage_account_id: Text | None = None
    job_type: Literal["Import", "Export"] | None = None
    return_address: ReturnAddress | None = None
    return_shipping: ReturnShipping | None = None
    shipping_information: ShippingInformation | None = None
    delivery_package: PackageInformation | None = None
    return_package: PackageInformation | None = None
    diagnostics_path: Text | None = None
    log_level: Literal["Error", "Verbose"] | None = None
    backup_drive_manifest: StrictBool | None = None
    state: JobState = JobState.CREATING
    cancel_requested: StrictBool = False
    percent_complete: Percent | None = None
    incomplete_blob_list_uri: Text | None = None
    drive_list: Annotated[list[DriveStatus], Field(max_length=10)] | None = None
    export: Export | None = None
    provisioning_state: ShortText | None = None
    encryption_key: EncryptionKeyDetails | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    state_changed_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None


# Properties the service owns: accepted in a PUT body (so a GET result can be sent back) but ignored.
SERVICE_OWNED_PROPERTIES = frozenset(
    {
        "shipping_information",  # filled in from the job's location
        "state",
        "cancel_requested",
        "percent_complete",
        "provisioning_state",
        "incomplete_blob_list_uri",
        "return_package",
        "created_at",
        "updated_at",
        "state_changed_at",
        "completed_at",
    }
)


class JobCreateRequest(ArmModel):
    """The body of PUT (Create Job); `id`, `name` and `type` are accepted and ignored, as ARM does."""

    location: Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]
    tags: Tags = Field(default_factory=dict)
    properties: JobProperties
    id: Text | None = None
    name: Text | None = None
    type: Text | None = None

    @model_validator(mode="after")
    def _needs_account_and_type(self) -> "JobCreateRequest":
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


class JobUpdateProperties(ArmModel):
    cancel_requested: StrictBool | None = None
    state: JobState | None = None
    return_address: ReturnAddress | None = None
    return_shipping: ReturnShipping | None = None
    delivery_package: PackageInformation | None = None
    log_level: Literal["Error", "Verbose"] | None = None
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


class Job(ArmModel):
    """A stored job: where it lives (in the caller's casing), and its ARM content."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str] = Field(default_factory=dict)
    properties: JobProperties

    @property
    def key(self) -> JobKey:
        return JobKey(self.subscription_id, self.resource_group, self.name)

    @property
    def state(self) -> JobState:
        return self.properties.state

    def to_arm(self) -> dict[str, Any]:
        """The job as the API shows it; BitLocker keys are write-only here, read only through listBitLockerKeys."""
        properties = self.properties.to_json_dict()
        for drive in properties.get("driveList", ()):
            drive.pop("bitLockerKey", None)
        return {
            "id": self.key.resource_id,
            "name": self.name,
            "type": RESOURCE_TYPE,
            "location": self.location,
            "tags": self.tags,
            "properties": properties,
        }

    def bitlocker_keys(self) -> list[dict[str, str]]:
        """The drives' BitLocker keys, as listBitLockerKeys answers them."""
        return [
            {"driveId": drive.drive_id, "bitLockerKey": drive.bit_locker_key}
            for drive in self.properties.drive_list or ()
            if drive.bit_locker_key is not None and drive.drive_id is not None
        ]

