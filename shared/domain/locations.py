"""The operator's datacenters (ARM `Microsoft.ImportExport/locations`), read from a data file.

A location is an Azure region where the service takes jobs: where the customer ships the drives (its address,
the carriers it accepts) and which locations take its shipments (`alternateLocations`).

Nothing here reads settings: `shared.settings` loads the file the settings name (`shared/locations.json` unless
IMPORTEXPORT_LOCATIONS_FILE names another), so a bad file is a settings error, found by `python -m
shared.settings` as by the app. How a location is shown is `shared.api.rendering`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictStr, StringConstraints, ValidationError, model_validator

from .errors import BadRequest, NotFound
from .job import ArmModel, ShippingInformation
from .names import PROVIDER, RESOURCE_TYPE, case_key

LOCATION_TYPE = f"{PROVIDER}/locations"
LOCATION_ID_PREFIX = f"/providers/{LOCATION_TYPE}/"

Text = Annotated[StrictStr, StringConstraints(max_length=256)]
RegionName = Annotated[StrictStr, StringConstraints(pattern=r"^[a-z0-9]{1,64}$")]
DisplayName = Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]


class LocationsFileError(ValueError):
    """The locations file is missing or malformed; the message says where and how."""


class LocationProperties(ArmModel):
    """A location's `properties`, as the API shows them; every field is optional (left out when unknown)."""

    recipient_name: Text | None = None
    street_address1: Text | None = None
    street_address2: Text | None = None
    city: Text | None = None
    state_or_province: Text | None = None
    postal_code: Text | None = None
    country_or_region: Text | None = None
    phone: Text | None = None
    additional_shipping_information: Text | None = None
    supported_carriers: list[Text] | None = None
    alternate_locations: list[StrictStr] | None = None


class Location(BaseModel):
    """One entry of the data file: the region's name (`westus`), display name (`West US`) and properties.

    `alternateLocations` are written in the file as region names and shown as location ids; when the file leaves
    them out the location takes its own shipments, which is what the API says of an open location.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: RegionName
    display_name: DisplayName = Field(alias="displayName")
    properties: LocationProperties = Field(default_factory=LocationProperties)

    @property
    def id(self) -> str:
        return LOCATION_ID_PREFIX + self.name

    @property
    def alternate_names(self) -> list[str]:
        return self.properties.alternate_locations or [self.name]

    def shipping_information(self) -> ShippingInformation | None:
        """Where a job's customer sends the drives, as the service fills a job's `shippingInformation`; None when
        the catalogue has no address for this location (never a made-up one)."""
        p = self.properties
        if p.recipient_name is None or p.street_address1 is None:
            return None
        return ShippingInformation(
            recipient_name=p.recipient_name,
            street_address1=p.street_address1,
            street_address2=p.street_address2,
            city=p.city,
            state_or_province=p.state_or_province,
            postal_code=p.postal_code,
            country_or_region=p.country_or_region,
            phone=p.phone,
            # the service shows no additionalInformation in a job's shippingInformation when there is none (recorded)
            additional_information=p.additional_shipping_information or None,
        )


class LocationCatalogue(BaseModel):
    """The locations the service takes jobs in, in the file's order; looked up by name or display name."""

    model_config = ConfigDict(extra="forbid")

    locations: Annotated[list[Location], Field(min_length=1)]

    # Each location by the case key of its region name and of its display name: every job answer looks one up.
    _by_key: dict[str, Location] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _names_are_unique_and_alternates_known(self) -> "LocationCatalogue":
        seen: dict[str, str] = {}
        for location in self.locations:
            for spelling in (location.name, location.display_name):
                key = case_key(spelling)
                if seen.get(key, location.name) != location.name:
                    raise ValueError(f"'{spelling}' names two locations ({seen[key]} and {location.name})")
                seen[key] = location.name
        names = {location.name for location in self.locations}
        for location in self.locations:
            unknown = [name for name in location.alternate_names if name not in names]
            if unknown:
                raise ValueError(f"{location.name}: alternateLocations names no location in the file: {', '.join(unknown)}")
        return self

    def model_post_init(self, context: Any) -> None:
        self._by_key = {
            case_key(spelling): location for location in self.locations for spelling in (location.name, location.display_name)
        }

    def find(self, name: str) -> Location | None:
        """The location `name` names, by region name or display name, compared as ARM compares names."""
        return self._by_key.get(case_key(name))

    def display_name(self, name: str) -> str:
        """How the service shows a job's location in its answers but the PUT's ("East US" for "eastus"); a name the
        catalogue does not know any more is shown as it is."""
        location = self.find(name)
        return name if location is None else location.display_name

    def get(self, name: str) -> Location:
        """GET a location: 404 when there is none by that name."""
        location = self.find(name)
        if location is None:
            raise NotFound(
                f"The location '{name[:64]}' is not a location of {PROVIDER}; list the locations to see them.",
                code="LocationNotFound",
            )
        return location

    def for_job(self, name: str) -> Location:
        """The location a job is created in: 400 naming `location` when the service takes no jobs there."""
        location = self.find(name)
        if location is None:
            # ARM's code and wording for a location a resource type is not offered in.
            raise BadRequest(
                f"The provided location '{name[:64]}' is not available for resource type '{RESOURCE_TYPE}'. "
                f"List of available regions for the resource type is '{','.join(each.name for each in self.locations)}'.",
                code="LocationNotAvailableForResourceType",
                target="location",
            )
        return location


def load_catalogue(path: Path) -> LocationCatalogue:
    """The catalogue in `path`; a missing, unreadable or malformed file is a LocationsFileError naming it."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise LocationsFileError(f"the locations file {path} does not exist") from error
    except (OSError, ValueError) as error:
        raise LocationsFileError(f"the locations file {path} is not readable JSON: {error}") from error
    try:
        return LocationCatalogue.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'file'}: {e['msg']}" for e in error.errors(include_input=False)[:5]
        )
        raise LocationsFileError(f"the locations file {path} is malformed: {problems}") from error
