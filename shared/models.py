"""The job resource and the request bodies, in the ARM JSON shapes of Microsoft.ImportExport."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .api_versions import ApiVersion
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
# ARM's tag limits: 50 tags, names up to 512 characters without < > % & \ ? / (nor control characters here),
# values up to 256.
TagName = Annotated[StrictStr, StringConstraints(min_length=1, max_length=512, pattern=r"^[^<>%&\\?/\x00-\x1f\x7f]+$")]
Tags = Annotated[dict[TagName, ShortText], Field(max_length=50)]


class ArmModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def request_version(info: ValidationInfo) -> ApiVersion | None:
    """The api-version a request body is read in (the validation context's); None for a stored job."""
    return (info.context or {}).get("api_version")


def _refuse_unknown_to(version: ApiVersion | None, data: Any, names: tuple[str, ...]) -> None:
    if version is not None and not version.has_resource_metadata and isinstance(data, dict):
        for name in names:
            if name in data:
                raise ValueError(f"'{name}' is not defined in api-version {version}; it exists from 2020-08-01 on")


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


class DeliveryPackage(ArmModel):
    """The customer's package to the datacenter: 2016-11-01 requires all four fields, later versions two."""

    carrier_name: RequiredText
    tracking_number: RequiredText
    drive_count: Count | None = None
    ship_date: RequiredText | None = None

    @model_validator(mode="after")
    def _complete_for_version(self, info: ValidationInfo) -> "DeliveryPackage":
        version = request_version(info)
        missing = [name for name, value in (("driveCount", self.drive_count), ("shipDate", self.ship_date)) if value is None]
        if version is not None and version.requires_full_delivery_package and missing:
            raise ValueError(f"api-version {version} requires {' and '.join(missing)} in deliveryPackage")
        return self


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
    bytes_succeeded: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] | None = None  # int64 in every version


class BlobList(ArmModel):
    blob_path: Annotated[list[Text], Field(max_length=100)] | None = None
    blob_path_prefix: Annotated[list[Text], Field(max_length=100)] | None = None


class Export(ArmModel):
    blob_list: BlobList | None = None
    blob_list_blob_path: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _version_spelling(cls, data: Any, info: ValidationInfo) -> Any:
        # Each version has one spelling (2016-11-01: blobListblobPath); the other is as unknown to it as any name.
        version = request_version(info)
        if version is None or not isinstance(data, dict) or version.export_list_path_name == "blobListBlobPath":
            return data
        if "blobListBlobPath" in data:
            raise ValueError(f"api-version {version} spells it 'blobListblobPath', not 'blobListBlobPath'")
        return {("blobListBlobPath" if name == "blobListblobPath" else name): value for name, value in data.items()}


class EncryptionKeyDetails(ArmModel):
    kek_type: Literal["MicrosoftManaged", "CustomerManaged"] | None = None
    kek_url: Text | None = None
    kek_vault_resource_id: Text | None = Field(default=None, alias="kekVaultResourceID")


class JobDetails(ArmModel):
    """A job's `properties` as the API defines them."""

    storage_account_id: Text | None = None
    job_type: Literal["Import", "Export"] | None = None
    return_address: ReturnAddress | None = None
    return_shipping: ReturnShipping | None = None
    shipping_information: ShippingInformation | None = None
    delivery_package: DeliveryPackage | None = None
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

    @model_validator(mode="before")
    @classmethod
    def _defined_in_version(cls, data: Any, info: ValidationInfo) -> Any:
        _refuse_unknown_to(request_version(info), data, ("encryptionKey",))
        return data


# The times the service keeps of a job, beside its ARM properties: what starts the purge's clocks, and what
# `systemData` shows. Stored with the properties, never shown among them (no api-version defines them there).
SERVICE_TIMES = frozenset({"created_at", "updated_at", "state_changed_at", "completed_at"})


class JobProperties(JobDetails):
    """A stored job's properties: the API's, and the service's times."""

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
    }
)


# Their JSON names: a PUT body's are ignored, as are these of the resource around them.
READ_ONLY_PROPERTY_NAMES = frozenset(to_camel(name) for name in SERVICE_OWNED_PROPERTIES)
READ_ONLY_RESOURCE_NAMES = frozenset({"id", "name", "type", "systemData", "identity"})


class IdentityDetails(ArmModel):
    """A job's managed identity (2020-08-01 on); jobs here have none, so a sent one is read and ignored."""

    type: Literal["None", "SystemAssigned", "UserAssigned"] = "None"
    principal_id: ShortText | None = None
    tenant_id: ShortText | None = None


class SystemData(ArmModel):
    """ARM's record of who created and last changed a resource, and when (read-only; ignored when sent)."""

    created_by: ShortText | None = None
    created_by_type: ShortText | None = None
    created_at: ShortText | None = None
    last_modified_by: ShortText | None = None
    last_modified_by_type: ShortText | None = None
    last_modified_at: ShortText | None = None


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

    # The api-version the body was read in (None for one built in code): what it could not see, a replace keeps.
    _api_version: ApiVersion | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _defined_in_version(cls, data: Any, info: ValidationInfo) -> Any:
        version = request_version(info)
        _refuse_unknown_to(version, data, ("systemData", "identity"))
        if version is None or not isinstance(data, dict):
            return data
        # What only the service sets is ignored, whatever its value, so that any job as GET shows it can be sent back.
        read_only = (
            READ_ONLY_RESOURCE_NAMES if version.has_resource_metadata else READ_ONLY_RESOURCE_NAMES - {"systemData", "identity"}
        )
        data = {name: value for name, value in data.items() if name not in read_only}
        if isinstance(data.get("properties"), dict):
            data["properties"] = {
                name: value for name, value in data["properties"].items() if name not in READ_ONLY_PROPERTY_NAMES
            }
        return data

    @model_validator(mode="after")
    def _remember_version(self, info: ValidationInfo) -> "JobCreateRequest":
        self._api_version = request_version(info)
        return self

    @property
    def api_version(self) -> ApiVersion | None:
        return self._api_version

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
    """`properties` of a PATCH; from 2020-08-01 a `false` of a property the specification defaults is "not given"."""

    cancel_requested: StrictBool | None = None
    state: JobState | None = None
    return_address: ReturnAddress | None = None
    return_shipping: ReturnShipping | None = None
    delivery_package: DeliveryPackage | None = None
    log_level: Literal["Error", "Verbose"] | None = None
    backup_drive_manifest: StrictBool | None = None
    drive_list: Annotated[list[DriveStatus], Field(max_length=10)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _client_defaults_are_not_given(cls, data: Any, info: ValidationInfo) -> Any:
        # Those versions' clients send the specification's defaults on every update (a tag update included), so a
        # `false` from them says nothing: honouring it would clear a job's backupDriveManifest at every update.
        version = request_version(info)
        if version is None or not isinstance(data, dict):
            return data
        return {name: value for name, value in data.items() if not (name in version.update_defaults and value is False)}


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


def _utc_text(time: datetime) -> str:
    return time.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


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

    def to_arm(self, version: ApiVersion) -> dict[str, Any]:
        """The job as `version` of the API shows it, with no property that version does not define.

        BitLocker keys are write-only here, read only through listBitLockerKeys.
        """
        properties = self.properties.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=set(SERVICE_TIMES))
        for drive in properties.get("driveList", ()):
            drive.pop("bitLockerKey", None)
        export = properties.get("export")
        if export and "blobListBlobPath" in export:
            export[version.export_list_path_name] = export.pop("blobListBlobPath")
        resource = {
            "id": self.key.resource_id,
            "name": self.name,
            "type": RESOURCE_TYPE,
            "location": self.location,
            "tags": self.tags,
            "properties": properties,
        }
        if not version.has_resource_metadata:
            properties.pop("encryptionKey", None)
            properties.get("shippingInformation", {}).pop("additionalInformation", None)
            return resource
        system_data = {"createdAt": self.properties.created_at, "lastModifiedAt": self.properties.updated_at}
        resource["systemData"] = {name: _utc_text(time) for name, time in system_data.items() if time is not None}
        resource["identity"] = {"type": "None"}
        return resource

    def bitlocker_keys(self) -> list[dict[str, str]]:
        """The drives' BitLocker keys, as listBitLockerKeys answers them."""
        return [
            {"driveId": drive.drive_id, "bitLockerKey": drive.bit_locker_key}
            for drive in self.properties.drive_list or ()
            if drive.bit_locker_key is not None and drive.drive_id is not None
        ]
