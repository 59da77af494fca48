"""The job resource, in the ARM JSON shapes of Microsoft.ImportExport: what a job holds, as stored and as the API
defines its properties.

Every model reads and writes the API's camelCase names. A request body is read through the same models with a
`BodyReader` in the validation context: the api-version's reader (`shared.api.versions`) may adjust each part of
the document before its model reads it, and check the part after. Stored jobs are read with no reader.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .names import JobKey

# The validation context's key for the `BodyReader` of a request body.
READER = "reader"


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


class BodyReader(Protocol):
    """How one api-version reads a request body: each part of the document before its model reads it, and after."""

    def before(self, model: type[BaseModel], data: Any) -> Any:
        """The part of the document that `model` is about to read, as the version means it (or a ValueError)."""
        ...

    def after(self, model: BaseModel) -> None:
        """Checks a part the version requires more of than the model does (a ValueError when it falls short)."""
        ...


def _reader(info: ValidationInfo) -> BodyReader | None:
    return (info.context or {}).get(READER)


class ArmModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @model_validator(mode="before")
    @classmethod
    def _as_the_version_reads_it(cls, data: Any, info: ValidationInfo) -> Any:
        reader = _reader(info)
        return data if reader is None else reader.before(cls, data)

    @model_validator(mode="after")
    def _as_the_version_requires_it(self, info: ValidationInfo) -> ArmModel:
        reader = _reader(info)
        if reader is not None:
            reader.after(self)
        return self


def _absent_is_empty(value: Any) -> Any:
    return "" if value is None else value


# An optional address field the client left out: the service keeps and shows it as "".
OptionalAddressText = Annotated[ShortText, BeforeValidator(_absent_is_empty)]


class ReturnAddress(ArmModel):
    recipient_name: RequiredText
    street_address1: RequiredText
    street_address2: OptionalAddressText = ""
    city: RequiredText
    state_or_province: OptionalAddressText = ""
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
    """The customer's package to the datacenter: carrier and tracking number, and (some versions require them) the
    drive count and ship date."""

    carrier_name: RequiredText
    tracking_number: RequiredText
    drive_count: Count | None = None
    ship_date: RequiredText | None = None


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


class EncryptionKeyDetails(ArmModel):
    kek_type: Literal["MicrosoftManaged", "CustomerManaged"] | None = None
    kek_url: Text | None = None
    kek_vault_resource_id: Text | None = Field(default=None, alias="kekVaultResourceID")


JobType = Literal["Import", "Export"]
LogLevel = Literal["Error", "Verbose"]


class JobDetails(ArmModel):
    """A job's `properties` as the API defines them."""

    storage_account_id: Text | None = None
    job_type: JobType | None = None
    return_address: ReturnAddress | None = None
    return_shipping: ReturnShipping | None = None
    shipping_information: ShippingInformation | None = None
    delivery_package: DeliveryPackage | None = None
    return_package: PackageInformation | None = None
    diagnostics_path: Text | None = None
    # The service's defaults, shown (and kept) when the client sets none.
    log_level: Annotated[LogLevel, BeforeValidator(lambda value: "Error" if value is None else value)] = "Error"
    backup_drive_manifest: StrictBool | None = None
    state: JobState = JobState.CREATING
    cancel_requested: StrictBool = False
    percent_complete: Percent | None = None
    incomplete_blob_list_uri: Text | None = None
    drive_list: Annotated[list[DriveStatus], Field(max_length=10)] | None = None
    export: Export | None = None
    provisioning_state: ShortText | None = None
    encryption_key: EncryptionKeyDetails = Field(default_factory=lambda: EncryptionKeyDetails(kek_type="MicrosoftManaged"))


# The times the service keeps of a job, beside its ARM properties: what starts the purge's countdowns, and what
# `systemData` shows. Stored with the properties, never shown among them (no api-version defines them there).
SERVICE_TIMES = frozenset({"created_at", "updated_at", "state_changed_at", "completed_at"})
# Who created and last changed the job (a caller's name and kind), which `systemData` shows; kept the same way.
SERVICE_AUTHORS = frozenset({"created_by", "created_by_type", "last_modified_by", "last_modified_by_type"})
SERVICE_RECORDS = SERVICE_TIMES | SERVICE_AUTHORS


class JobProperties(JobDetails):
    """A stored job's properties: the API's, and the service's times."""

    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    state_changed_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    created_by: ShortText | None = None
    created_by_type: ShortText | None = None
    last_modified_by: ShortText | None = None
    last_modified_by_type: ShortText | None = None


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
