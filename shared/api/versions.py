"""The API versions the app speaks, and every rule in which one version differs from another, in this one file.

A request is read, and its answer written, in the shapes of the api-version it names: the official clients of
each version deserialize only the properties their version defines, and send what it requires. `VersionReader`
reads request bodies (the domain's models call it on each part of the document); `show_job` and `show_location`
take an answer, built in the newest shapes (`rendering`), to the version's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from ..domain.job import SERVICE_OWNED_PROPERTIES, DeliveryPackage, Export, JobDetails
from ..domain.requests import JobCreateRequest, JobUpdateProperties


class ApiVersion(StrEnum):
    V2016_11_01 = "2016-11-01"
    V2020_08_01 = "2020-08-01"
    V2021_01_01 = "2021-01-01"

    @property
    def export_list_path_name(self) -> str:
        """The JSON name of an Export job's blob-list path: 2016-11-01 spelled it with a lower-case b."""
        return "blobListblobPath" if self is ApiVersion.V2016_11_01 else "blobListBlobPath"

    @property
    def requires_full_delivery_package(self) -> bool:
        """2016-11-01 requires all four deliveryPackage fields; later versions only carrierName and trackingNumber."""
        return self is ApiVersion.V2016_11_01

    @property
    def has_resource_metadata(self) -> bool:
        """Whether the version defines a job's `systemData` and `identity`, `properties.encryptionKey` and
        `shippingInformation.additionalInformation` (all added in 2020-08-01)."""
        return self is not ApiVersion.V2016_11_01

    @property
    def unseen_job_properties(self) -> frozenset[str]:
        """The job properties (field names) the version does not define, which its clients never see nor send."""
        return frozenset() if self.has_resource_metadata else frozenset({"encryption_key"})

    @property
    def update_defaults(self) -> frozenset[str]:
        """PATCH properties whose `false` is the version's default, which its clients send on every update."""
        return frozenset() if self is ApiVersion.V2016_11_01 else frozenset({"cancelRequested", "backupDriveManifest"})


# What only the service sets, by JSON name: a PUT body's are ignored, as are these of the resource around them.
READ_ONLY_PROPERTY_NAMES = frozenset(to_camel(name) for name in SERVICE_OWNED_PROPERTIES)
READ_ONLY_RESOURCE_NAMES = frozenset({"id", "name", "type", "systemData", "identity"})
# Added in 2020-08-01: unknown to 2016-11-01, where sending it is as wrong as any unknown name. (`identity` and
# `encryptionKey` were added then too, but the service shows them at 2016-11-01 as well, so a 2016 client may send
# back what it read: they are read-only there, ignored.)
RESOURCE_METADATA_NAMES = ("systemData",)


class VersionReader:
    """Reads a request body as `version` means it: the domain's models call `before` on each part of the document
    before they read it, and `after` on what they read (`shared.domain.job.BodyReader`)."""

    def __init__(self, version: ApiVersion) -> None:
        self.version = version

    def before(self, model: type[BaseModel], data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if model is JobCreateRequest:
            return self._create_body(data)
        if model is JobDetails and not self.version.has_resource_metadata:
            # A 2016-11-01 client cannot set it; what it sends back of it is what the service showed it.
            return {name: value for name, value in data.items() if name != "encryptionKey"}
        if model is Export:
            return self._export(data)
        elif model is JobUpdateProperties:
            # Those versions' clients send the specification's defaults on every update (a tag update included), so
            # a `false` from them says nothing: honouring it would clear a job's backupDriveManifest at every update.
            return {name: value for name, value in data.items() if not (name in self.version.update_defaults and value is False)}
        return data

    def after(self, model: BaseModel) -> None:
        if isinstance(model, DeliveryPackage) and self.version.requires_full_delivery_package:
            missing = [
                name for name, value in (("driveCount", model.drive_count), ("shipDate", model.ship_date)) if value is None
            ]
            if missing:
                raise ValueError(f"api-version {self.version} requires {' and '.join(missing)} in deliveryPackage")
        elif isinstance(model, JobCreateRequest):
            model.cannot_see(self.version.unseen_job_properties)

    def _create_body(self, data: dict[str, Any]) -> dict[str, Any]:
        self._refuse_undefined(data, RESOURCE_METADATA_NAMES)
        # What only the service sets is ignored, whatever its value, so that any job as GET shows it can be sent back.
        data = {name: value for name, value in data.items() if name not in READ_ONLY_RESOURCE_NAMES}
        if isinstance(data.get("properties"), dict):
            data["properties"] = {
                name: value for name, value in data["properties"].items() if name not in READ_ONLY_PROPERTY_NAMES
            }
        return data

    def _export(self, data: dict[str, Any]) -> dict[str, Any]:
        # Each version has one spelling (2016-11-01: blobListblobPath); the other is as unknown to it as any name.
        if self.version.export_list_path_name == "blobListBlobPath":
            return data
        if "blobListBlobPath" in data:
            raise ValueError(f"api-version {self.version} spells it 'blobListblobPath', not 'blobListBlobPath'")
        return {("blobListBlobPath" if name == "blobListblobPath" else name): value for name, value in data.items()}

    def _refuse_undefined(self, data: dict[str, Any], names: tuple[str, ...]) -> None:
        if self.version.has_resource_metadata:
            return
        for name in names:
            if name in data:
                raise ValueError(f"'{name}' is not defined in api-version {self.version}; it exists from 2020-08-01 on")


def show_job(
    resource: dict[str, Any], version: ApiVersion, *, system_data: dict[str, Any], identity: dict[str, Any]
) -> dict[str, Any]:
    """A job's resource, built in the newest shapes, as `version` shows it. `identity` and `encryptionKey` are shown
    in every version, as the service shows them (2016-11-01's clients ignore what they do not know); `systemData`
    only by the versions that define it."""
    properties = resource["properties"]
    export = properties.get("export")
    if export and "blobListBlobPath" in export:
        export[version.export_list_path_name] = export.pop("blobListBlobPath")
    if not version.has_resource_metadata:
        properties.get("shippingInformation", {}).pop("additionalInformation", None)
        return {**resource, "identity": identity}
    return {**resource, "systemData": system_data, "identity": identity}


def show_location(resource: dict[str, Any], version: ApiVersion) -> dict[str, Any]:
    """A location's resource as `version` shows it: 2016-11-01 has no `additionalShippingInformation`."""
    if not version.has_resource_metadata:
        resource["properties"].pop("additionalShippingInformation", None)
    return resource
