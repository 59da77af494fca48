"""Locations over HTTP (list, get, another catalogue file, a bad one), and a job's location and shipping information."""

from __future__ import annotations

import json

import pytest

from scripts.azurite import ROOT
from scripts.devhost_process import DevHostProcess
from shared.settings import resolve_settings

from ..builders import LOCATIONS, LOCATIONS_PATH, OPERATIONS_PATH, job_body
from ..harness import Api, assert_arm_error, serving_app

RECORDINGS = ROOT / "tests" / "recordings"

# West US as the service answered (recorded by Azure PowerShell's tests, 2020); the specification's example had an
# older address, and the recorded service wins.
WEST_US = {
    "properties": {
        "recipientName": "Microsoft Azure Import/Export Service",
        "streetAddress1": "3020 Coronado",
        "streetAddress2": "",
        "city": "Santa Clara",
        "stateOrProvince": "CA",
        "postalCode": "95054",
        "countryOrRegion": "USA",
        "phone": "408 352 7600",
        "additionalShippingInformation": "",
        "supportedCarriers": ["Blue Dart", "DHL", "FedEx", "TNT", "UPS"],
        "alternateLocations": ["/providers/Microsoft.ImportExport/locations/westus"],
    },
    "id": "/providers/Microsoft.ImportExport/locations/westus",
    "name": "West US",
    "type": "Microsoft.ImportExport/locations",
}
# East US's address as the service fills a job's shippingInformation (recorded; no phone).
EAST_US_SHIPPING = {
    "recipientName": "Microsoft Azure Import/Export Service",
    "streetAddress1": "21625 Gresham Drive",
    "streetAddress2": "",
    "city": "Ashburn",
    "stateOrProvince": "VA",
    "postalCode": "20147",
    "countryOrRegion": "USA",
    "phone": "",
}
# West US's address as a job's shippingInformation shows it.
WEST_US_SHIPPING = {
    "recipientName": "Microsoft Azure Import/Export Service",
    "streetAddress1": "3020 Coronado",
    "streetAddress2": "",
    "city": "Santa Clara",
    "stateOrProvince": "CA",
    "postalCode": "95054",
    "countryOrRegion": "USA",
    "phone": "408 352 7600",
}


ADDRESS_FIELDS = {
    "recipientName",
    "streetAddress1",
    "streetAddress2",
    "city",
    "stateOrProvince",
    "postalCode",
    "countryOrRegion",
    "phone",
    "additionalShippingInformation",
    "supportedCarriers",
}


# --- locations ---------------------------------------------------------------------------------------------------


def test_list_locations_is_the_services_recorded_list(api):
    # given the service's own answer to List Locations (api-version 2016-11-01, recorded by Azure PowerShell's tests)
    recorded = json.loads((RECORDINGS / "powershell_get_azimportexportlocation.json").read_text())["interactions"][0]
    # when the locations are listed in that version
    response = api.request("GET", LOCATIONS_PATH, api_version="2016-11-01")
    # then the answer is the service's, region by region and field by field
    assert response.status_code == recorded["status"]
    assert response.json() == recorded["response_body"]
    assert [location["id"].rsplit("/", 1)[1] for location in response.json()["value"]] == [
        location.name for location in LOCATIONS.locations
    ]


def test_a_location_without_a_known_address_shows_none(lab):
    # when a location whose catalogue entry gives no address is read
    response = lab.request("GET", f"{LOCATIONS_PATH}/labsouth")
    # then it names itself, takes its own shipments, and shows no address, phone or carriers (none is made up)
    assert response.status_code == 200
    assert response.json() == {
        "id": "/providers/Microsoft.ImportExport/locations/labsouth",
        "name": "Lab South",
        "type": "Microsoft.ImportExport/locations",
        "properties": {"alternateLocations": ["/providers/Microsoft.ImportExport/locations/labsouth"]},
    }


@pytest.mark.parametrize("name", ["westus", "West US", "WESTUS", "west us", "wEsT uS"])
def test_get_location_by_name_or_display_name_in_any_case(api, name):
    # when West US is read by its region name or display name, in any case
    response = api.request("GET", f"{LOCATIONS_PATH}/{name}")
    # then it is the specification's West US
    assert response.status_code == 200
    assert response.json() == WEST_US


@pytest.mark.parametrize("name", ["moon", "west-us", "westus3", "West  US", "ｗｅｓｔｕｓ"])
def test_an_unknown_location_is_404_with_an_arm_error(api, name):
    # when a location the catalogue does not hold is read (a look-alike or a near miss included)
    response = api.request("GET", f"{LOCATIONS_PATH}/{name}")
    # then it is a 404 that says so
    assert_arm_error(response, 404, "LocationNotFound")


@pytest.mark.parametrize("path", [LOCATIONS_PATH, f"{LOCATIONS_PATH}/westus", OPERATIONS_PATH])
def test_provider_routes_need_an_api_version(api, path):
    # when a provider-level route is called without api-version
    response = api.request("GET", path, api_version=None)
    # then it is refused like every route
    assert_arm_error(response, 400, "MissingApiVersionParameter")


# --- operations --------------------------------------------------------------------------------------------------


# --- a job's location --------------------------------------------------------------------------------------------


def test_a_job_in_an_unknown_location_is_400_and_not_stored(api, new_key):
    # given a job body in a location where the service takes no jobs
    key = new_key()
    body = job_body()
    body["location"] = "atlantis"
    # when it is PUT
    response = api.put_job(key, body)
    # then it is refused naming the location, and nothing was stored
    error = assert_arm_error(response, 400, "LocationNotAvailableForResourceType")
    assert error["target"] == "location"
    assert "'atlantis'" in error["message"] and "westus" in error["message"]
    assert api.get_job(key).status_code == 404


def test_a_job_keeps_its_location_as_sent_and_gets_its_shipping_information(api, new_key):
    # given a job created in "West US", as the specification's example sends it
    key = new_key()
    body = job_body()
    body["location"] = "West US"
    assert api.put_job(key, body).status_code == 201
    # when it is read
    job = api.get_job(key).json()
    # then its location is as sent, and the service filled in where to send the drives from that location
    assert job["location"] == "West US"
    assert job["properties"]["shippingInformation"] == WEST_US_SHIPPING


@pytest.mark.parametrize("location", ["westus", "WESTUS", "west us"])
def test_a_job_location_matches_in_any_case(api, new_key, location):
    # given a job created in West US spelt in another case
    key = new_key()
    body = job_body()
    body["location"] = location
    # when it is PUT
    response = api.put_job(key, body)
    # then it is West US's job
    assert response.status_code == 201
    assert response.json()["properties"]["shippingInformation"] == WEST_US_SHIPPING


def test_a_job_in_a_location_without_an_address_has_no_shipping_information(lab, new_key):
    # given a job in Lab South, whose address the catalogue does not hold
    key = new_key()
    body = job_body()
    body["location"] = "labsouth"
    # when it is created
    response = lab.put_job(key, body)
    # then it has no shippingInformation rather than a made-up one
    assert response.status_code == 201
    assert "shippingInformation" not in response.json()["properties"]


@pytest.mark.parametrize("location,expected", [("westus", WEST_US_SHIPPING), ("eastus", EAST_US_SHIPPING)])
def test_shipping_information_sent_by_the_client_is_ignored(api, new_key, location, expected):
    # given a job body that tries to set where the drives go
    key = new_key()
    body = job_body(shippingInformation={"recipientName": "Mallory", "streetAddress1": "1 Elsewhere", "city": "Nowhere"})
    body["location"] = location
    # when it is created and read again
    assert api.put_job(key, body).status_code == 201
    stored = api.get_job(key).json()["properties"]
    # then the service's own answer stands: the location's address
    assert stored.get("shippingInformation") == expected


def test_replacing_a_job_in_another_location_moves_its_shipping_information(api, new_key):
    # given a job in West US
    key = new_key()
    assert api.put_job(key).status_code == 201
    # when it is replaced by a job in East US, then by one in an unknown location
    body = job_body()
    body["location"] = "East US"
    replaced = api.put_job(key, body)
    body["location"] = "nowhere"
    refused = api.put_job(key, body)
    # then the replacement has East US's shipping information, and the refused one changed nothing
    assert replaced.status_code == 200
    assert replaced.json()["properties"]["shippingInformation"] == EAST_US_SHIPPING
    assert_arm_error(refused, 400, "LocationNotAvailableForResourceType")
    assert api.get_job(key).json()["location"] == "East US"


def test_patch_cannot_set_shipping_information(api, new_key):
    # given a job in West US
    key = new_key()
    assert api.put_job(key).status_code == 201
    # when a PATCH tries to change where the drives go
    response = api.patch_job(key, {"properties": {"shippingInformation": {"recipientName": "Mallory"}}})
    # then it is refused as a property PATCH does not take, and the job keeps the location's address
    assert_arm_error(response, 400, "InvalidRequestContent")
    assert api.get_job(key).json()["properties"]["shippingInformation"] == WEST_US_SHIPPING


# --- another locations file --------------------------------------------------------------------------------------

OTHER_FILE = {
    "locations": [
        {
            "name": "labnorth",
            "displayName": "Lab North",
            "properties": {
                "recipientName": "Drive intake",
                "streetAddress1": "1 Loading Dock",
                "city": "Testville",
                "postalCode": "00001",
                "countryOrRegion": "Nowhere",
                "phone": "000",
                "supportedCarriers": ["DHL"],
                "alternateLocations": ["labnorth", "labsouth"],
            },
        },
        {"name": "labsouth", "displayName": "Lab South"},
    ]
}


@pytest.fixture
def lab(api, app_settings, tmp_path):
    """The app served with a locations file of the operator's own (OTHER_FILE: Lab South has no address)."""
    path = tmp_path / "lab-locations.json"
    path.write_text(json.dumps(OTHER_FILE))
    values = {
        "IMPORTEXPORT_STORAGE_CONNECTION": app_settings.storage_connection,
        "IMPORTEXPORT_TABLE_NAME": app_settings.table_name,
        "IMPORTEXPORT_LOCATIONS_FILE": str(path),
    }
    with serving_app(resolve_settings(values, {})):
        yield api


def test_the_locations_file_setting_replaces_the_catalogue(api, app_settings, new_key, tmp_path):
    # given the app's settings, with IMPORTEXPORT_LOCATIONS_FILE naming a file of the operator's own
    path = tmp_path / "locations.json"
    path.write_text(json.dumps(OTHER_FILE))
    values = {
        "IMPORTEXPORT_STORAGE_CONNECTION": app_settings.storage_connection,
        "IMPORTEXPORT_TABLE_NAME": app_settings.table_name,
        "IMPORTEXPORT_LOCATIONS_FILE": str(path),
    }
    with serving_app(resolve_settings(values, {})):
        # when the locations are listed, and jobs are created in them and in West US
        listed = api.request("GET", LOCATIONS_PATH).json()["value"]
        in_lab = api.put_job(new_key(), job_body() | {"location": "Lab North"})
        in_west_us = api.put_job(new_key())
    # then the file's locations are the service's, West US is not one of them, and jobs take the file's addresses
    assert [location["name"] for location in listed] == ["Lab North", "Lab South"]
    assert listed[0]["properties"]["alternateLocations"] == [
        "/providers/Microsoft.ImportExport/locations/labnorth",
        "/providers/Microsoft.ImportExport/locations/labsouth",
    ]
    assert in_lab.status_code == 201
    assert in_lab.json()["properties"]["shippingInformation"] == {
        "recipientName": "Drive intake",
        "streetAddress1": "1 Loading Dock",
        "city": "Testville",
        "postalCode": "00001",
        "countryOrRegion": "Nowhere",
        "phone": "000",
    }
    assert_arm_error(in_west_us, 400, "LocationNotAvailableForResourceType")


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"locations": []}),
        json.dumps({"locations": [{"name": "West US", "displayName": "West US"}]}),  # a region name is lower-case
        json.dumps({"locations": [{"name": "a", "displayName": "A"}, {"name": "b", "displayName": "a"}]}),
        json.dumps({"locations": [{"name": "a", "displayName": "A", "properties": {"alternateLocations": ["b"]}}]}),
        json.dumps({"locations": [{"name": "a", "displayName": "A", "properties": {"street": "1 Way"}}]}),
        None,  # no file there
    ],
)
def test_a_bad_locations_file_is_a_500_invalid_configuration_and_one_log_line(app_settings, new_key, tmp_path, content):
    # given the app, as a process of its own, whose IMPORTEXPORT_LOCATIONS_FILE names a missing or malformed file
    path = tmp_path / "locations.json"
    if content is not None:
        path.write_text(content)
    environment = {"IMPORTEXPORT_LOCATIONS_FILE": str(path)}
    with DevHostProcess(app_settings.storage_connection, environment=environment, capture_output=True) as host:
        # when locations are listed and a job is created
        api = Api(f"http://127.0.0.1:{host.port}")
        listed = api.request("GET", LOCATIONS_PATH)
        created = api.put_job(new_key())
    # then both are the misconfiguration's 500, without Retry-After, and the log says which setting, once each
    for response in (listed, created):
        assert_arm_error(response, 500, "InvalidConfiguration")
        assert "Retry-After" not in response.headers
    lines = [line for line in host.output.splitlines() if " importexport ERROR " in line]
    assert len(lines) == 2, host.output
    assert all("IMPORTEXPORT_LOCATIONS_FILE" in line and str(path) in line for line in lines)


# --- any other path ----------------------------------------------------------------------------------------------
