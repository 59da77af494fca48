"""The official client, azure-mgmt-storageimportexport, works against the app unchanged, over real HTTP."""

from __future__ import annotations

import pytest
from azure.mgmt.storageimportexport import StorageImportExport, models
from azure.mgmt.storageimportexport.models import (
    DriveStatus,
    ErrorResponseException,
    JobDetails,
    PackageInfomation,
    PutJobParameters,
    ReturnAddress,
    UpdateJobParameters,
)
from msrest.authentication import BasicTokenAuthentication

from shared.domain.job import JobState

from ..builders import DELIVERY_PACKAGE, LOCATIONS, PROVIDER_OPERATIONS, RETURN_ADDRESS, job_body
from .conformance import undefined_properties


@pytest.fixture
def client(devhost, subscription_id) -> StorageImportExport:
    # The client sends `Authorization: Bearer ...`; the app, like ARM behind it, leaves that to the platform.
    return StorageImportExport(
        BasicTokenAuthentication({"access_token": "not-checked"}), subscription_id, base_url=devhost.base_url
    )


def put_parameters() -> PutJobParameters:
    return PutJobParameters(
        location="westus",
        tags={"team": "data"},
        properties=JobDetails(
            storage_account_id="/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
            job_type="Import",
            diagnostics_path="waimportexport",
            log_level="Verbose",
            backup_drive_manifest=False,
        ),
    )


def test_job_life_with_the_official_client(client):
    # given a new job created by the client
    created = client.jobs.create("client-job", "client-rg", put_parameters())
    assert created.name == "client-job"
    assert created.properties.state == "Creating"
    assert created.tags == {"team": "data"}
    # when it is read, cancelled and deleted
    fetched = client.jobs.get("client-job", "client-rg")
    cancelled = client.jobs.update("client-job", "client-rg", UpdateJobParameters(cancel_requested=True))
    client.jobs.delete("client-job", "client-rg")
    # then each step saw the contract's answer, and the job is gone
    assert fetched.id == created.id
    assert cancelled.properties.cancel_requested is True
    assert cancelled.properties.state == "Creating"  # the service completes the cancel afterwards
    with pytest.raises(ErrorResponseException) as raised:
        client.jobs.get("client-job", "client-rg")
    assert raised.value.response.status_code == 404
    assert raised.value.error.code == "ResourceNotFound"


def test_shipping_and_errors_through_the_official_client(client):
    client.jobs.create("ship-job", "client-rg", put_parameters())
    shipped = client.jobs.update(
        "ship-job",
        "client-rg",
        UpdateJobParameters(
            state="Shipping",
            return_address=ReturnAddress(
                recipient_name="Ada",
                street_address1="1 Way",
                city="Redmond",
                postal_code="98052",
                country_or_region="USA",
                phone="4250000000",
                email="ada@example.com",
            ),
            delivery_package=PackageInfomation(carrier_name="FedEx", tracking_number="1", drive_count=1, ship_date="2026-11-20"),
        ),
    )
    assert shipped.properties.state == "Shipping"
    assert shipped.properties.delivery_package.tracking_number == "1"
    with pytest.raises(ErrorResponseException) as raised:
        client.jobs.delete("ship-job", "client-rg")
    assert raised.value.response.status_code == 409
    assert "state Shipping" in raised.value.error.message


def test_listing_pages_through_the_official_client(client):
    for i in range(7):
        client.jobs.create(f"list-job-{i}", "list-rg", put_parameters())
    client.jobs.create("elsewhere", "other-rg", put_parameters())
    in_group = [job.name for job in client.jobs.list_by_resource_group("list-rg", top=3)]
    in_subscription = [job.name for job in client.jobs.list_by_subscription(top=2)]
    assert in_group == [f"list-job-{i}" for i in range(7)]
    assert sorted(in_subscription) == sorted(in_group + ["elsewhere"])


def test_filtered_listing_through_the_official_client(client):
    # given imports and exports in two groups
    for i in range(3):
        client.jobs.create(f"import-{i}", "filter-rg", put_parameters())
    export = put_parameters()
    export.properties.job_type = "Export"
    client.jobs.create("export-0", "filter-rg", export)
    client.jobs.create("import-elsewhere", "other-rg", put_parameters())
    # when the client lists with a filter, a page of one at a time
    in_group = [job.name for job in client.jobs.list_by_resource_group("filter-rg", top=1, filter="type eq 'Import'")]
    in_subscription = [
        job.name for job in client.jobs.list_by_subscription(top=1, filter="TYPE eq 'export' and state eq 'Creating'")
    ]
    # then it follows the nextLinks through exactly the matching jobs
    assert in_group == ["import-0", "import-1", "import-2"]
    assert in_subscription == ["export-0"]


def test_a_bad_filter_through_the_official_client_is_its_error(client):
    with pytest.raises(ErrorResponseException) as raised:
        list(client.jobs.list_by_subscription(filter="state ne 'Creating'"))
    assert raised.value.response.status_code == 400
    assert raised.value.error.code == "InvalidFilter"
    assert "not understood at 'ne 'Creating''" in raised.value.error.message


def test_bitlocker_keys_through_the_official_client(client):
    # given a job whose drive was given a BitLocker key
    parameters = put_parameters()
    parameters.properties.drive_list = [DriveStatus(drive_id="9CA995BB", bit_locker_key="000000-111111-222222-333333")]
    client.jobs.create("keys-job", "client-rg", parameters)
    # when the client reads the job and lists its keys
    job = client.jobs.get("keys-job", "client-rg")
    keys = list(client.bit_locker_keys.list("keys-job", "client-rg"))
    # then the job shows the drive without its key, and the list carries it
    assert [drive.bit_locker_key for drive in job.properties.drive_list] == [None]
    assert [(key.drive_id, key.bit_locker_key) for key in keys] == [("9CA995BB", "000000-111111-222222-333333")]


def test_answers_carry_only_properties_the_2016_client_defines(api, job_in_state, new_key):
    # given jobs with every part the app keeps: one finished with shipping details, one Export job with an
    # encryption key, both created under a later api-version
    finished = job_in_state(JobState.COMPLETED)
    export = new_key()
    body = job_body(jobType="Export", export={"blobListBlobPath": "c/list.xml"}, encryptionKey={"kekType": "MicrosoftManaged"})
    api.put_job(export, {**body, "properties": {**body["properties"], "returnAddress": RETURN_ADDRESS}}, api_version="2021-01-01")
    api.patch_job(export, {"properties": {"deliveryPackage": DELIVERY_PACKAGE}}, api_version="2021-01-01")
    # when api-version 2016-11-01 reads them, one by one and in a listing
    answers = [api.get_job(key, api_version="2016-11-01").json() for key in (finished, export)]
    listing = api.list_jobs(finished.subscription_id, api_version="2016-11-01").json()
    # then the 0.1.0 client's models define every property of every answer but the two the service shows at
    # 2016-11-01 though that version's specification has neither (recorded; the client ignores them)
    shown_by_the_service = ["properties.encryptionKey", "identity"]
    assert [undefined_properties(answer, models.JobResponse, models) for answer in answers] == [shown_by_the_service] * 2
    assert [undefined_properties(job, models.JobResponse, models) for job in listing["value"]] == [shown_by_the_service] * 2


def test_locations_through_the_official_client(client):
    # when the client lists the locations and reads one by its display name and one by its region name
    listed = list(client.locations.list())
    west_us = client.locations.get("West US")
    east_us = client.locations.get("eastus")
    # then it reads them as the service shows them (recorded): West US's and East US's addresses
    assert len(listed) == len(LOCATIONS.locations)
    assert "Australia Southeast" in [location.name for location in listed]
    assert (west_us.id, west_us.name, west_us.type) == (
        "/providers/Microsoft.ImportExport/locations/westus",
        "West US",
        "Microsoft.ImportExport/locations",
    )
    assert (west_us.street_address1, west_us.city, west_us.postal_code, west_us.supported_carriers) == (
        "3020 Coronado",
        "Santa Clara",
        "95054",
        ["Blue Dart", "DHL", "FedEx", "TNT", "UPS"],
    )
    assert west_us.alternate_locations == ["/providers/Microsoft.ImportExport/locations/westus"]
    assert (east_us.name, east_us.street_address1, east_us.phone) == ("East US", "21625 Gresham Drive", "")


def test_an_unknown_location_through_the_official_client(client):
    # when the client reads a location there is none of
    with pytest.raises(ErrorResponseException) as raised:
        client.locations.get("atlantis")
    # then it raises the API's 404
    assert raised.value.response.status_code == 404
    assert raised.value.error.code == "LocationNotFound"


def test_operations_through_the_official_client(client):
    # when the client lists the provider's operations
    operations = list(client.operations.list())
    # then it reads the provider's six, with their display words
    assert [operation.name for operation in operations] == PROVIDER_OPERATIONS
    assert (operations[0].provider, operations[0].resource, operations[0].operation) == (
        "Microsoft Import/Export",
        "Locations",
        "Get or List Locations",
    )


def test_a_job_created_by_the_official_client_gets_its_shipping_information(client):
    # when the client creates a job in West US
    created = client.jobs.create("shipping-job", "client-rg", put_parameters())
    # then the job says where to send the drives
    assert created.properties.shipping_information.street_address1 == "3020 Coronado"
    assert created.properties.shipping_information.city == "Santa Clara"


def test_location_answers_carry_only_properties_the_2016_client_defines(api):
    # when api-version 2016-11-01 lists the locations and reads West US (whose entry has every property)
    listed = api.request("GET", "/providers/Microsoft.ImportExport/locations", api_version="2016-11-01").json()
    west_us = api.request("GET", "/providers/Microsoft.ImportExport/locations/westus", api_version="2016-11-01").json()
    # then the 0.1.0 client's models define every property (2016-11-01 has no additionalShippingInformation)
    assert [undefined_properties(location, models.Location, models) for location in [west_us, *listed["value"]]] == [[]] * (
        1 + len(listed["value"])
    )
