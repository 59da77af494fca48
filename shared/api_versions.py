"""The API versions the app speaks, and what each one's published shapes differ in.

A request is read, and its answer written, in the shapes of the api-version it
names: the official clients of each version deserialize only the properties
their version defines, and send what it requires.
"""

from __future__ import annotations

from enum import StrEnum


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
    def update_defaults(self) -> frozenset[str]:
        """PATCH properties whose `false` is the version's default, which its clients send on every update."""
        return frozenset() if self is ApiVersion.V2016_11_01 else frozenset({"cancelRequested", "backupDriveManifest"})
