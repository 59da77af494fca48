"""Each api-version's own shapes over HTTP: what a request may and must carry, and what an answer shows."""

from __future__ import annotations

import pytest

from shared.models import JobState

from .conftest import DELIVERY_PACKAGE, RETURN_ADDRESS, job_body

V2016, V2020, V2021 = "2016-11-01", "2020-08-01", "2021-01-01"
LATER_VERSIONS = (V2020, V2021)
TWO_FIELD_PACKAGE = {"carrierName": "FedEx", "trackingNumber": "987654321"}
SERVICE_TIMES = ("createdAt", "updatedAt", "stateChangedAt", "completedAt")
ENCRYPTION_KEY = {"kekType": "MicrosoftManaged"}


def export_body(path_name: str) -> dict:
    return job_body(jobType="Export", export={path_name: "container/list.xml"})


def error_of(response) -> dict:
    return response.json()["error"]


class TestDeliveryPackage:
    def test_2016_requires_all_four_fields(self, api, new_key):
        # given a job under api-version 2016-11-01
        key = new_key()
        assert api.put_job(key, api_version=V2016).status_code == 201
        # when the customer sends a package with only the carrier and tracking number
        response = api.patch_job(key, {"properties": {"deliveryPackage": TWO_FIELD_PACKAGE}}, api_version=V2016)
        # then that version's required fields are named
        assert response.status_code == 400
        assert error_of(response)["code"] == "InvalidRequestContent"
        assert "requires driveCount and shipDate in deliveryPackage" in error_of(response)["message"]

    @pytest.mark.parametrize("version", LATER_VERSIONS)
    def test_later_versions_ship_with_carrier_and_tracking_number(self, api, new_key, version):
        # given a job with a return address
        key = new_key()
        api.put_job(key, job_body(returnAddress=RETURN_ADDRESS), api_version=version)
        # when it ships with the two fields these versions require
        body = {"properties": {"state": "Shipping", "deliveryPackage": TWO_FIELD_PACKAGE}}
        response = api.patch_job(key, body, api_version=version)
        # then it is shipping with that package
        assert response.status_code == 200, response.text
        assert response.json()["properties"]["state"] == "Shipping"
        assert response.json()["properties"]["deliveryPackage"] == TWO_FIELD_PACKAGE

    def test_2016_accepts_the_full_package(self, api, new_key):
        key = new_key()
        api.put_job(key, api_version=V2016)
        response = api.patch_job(key, {"properties": {"deliveryPackage": DELIVERY_PACKAGE}}, api_version=V2016)
        assert response.status_code == 200, response.text
        assert response.json()["properties"]["deliveryPackage"] == DELIVERY_PACKAGE


class TestExportListPath:
    def test_2016_reads_and_writes_its_own_spelling(self, api, new_key):
        # given an Export job created with the 2016 spelling
        key = new_key()
        created = api.put_job(key, export_body("blobListblobPath"), api_version=V2016)
        # then that version shows it under the same name
        assert created.status_code == 201, created.text
        assert created.json()["properties"]["export"] == {"blobListblobPath": "container/list.xml"}

    @pytest.mark.parametrize("version", LATER_VERSIONS)
    def test_later_versions_show_the_same_path_in_their_spelling(self, api, new_key, version):
        key = new_key()
        api.put_job(key, export_body("blobListblobPath"), api_version=V2016)
        export = api.get_job(key, api_version=version).json()["properties"]["export"]
        assert export == {"blobListBlobPath": "container/list.xml"}

    def test_2016_refuses_the_later_spelling(self, api, new_key):
        response = api.put_job(new_key(), export_body("blobListBlobPath"), api_version=V2016)
        assert response.status_code == 400
        assert "spells it 'blobListblobPath'" in error_of(response)["message"]

    @pytest.mark.parametrize("version", LATER_VERSIONS)
    def test_later_versions_refuse_the_2016_spelling(self, api, new_key, version):
        response = api.put_job(new_key(), export_body("blobListblobPath"), api_version=version)
        assert response.status_code == 400
        assert error_of(response)["target"] == "properties.export.blobListblobPath"


class TestResourceMetadata:
    @pytest.mark.parametrize("version", LATER_VERSIONS)
    def test_later_versions_show_system_data_and_identity(self, api, new_key, version):
        # given a job created and then changed
        key = new_key()
        created = api.put_job(key, api_version=version).json()
        changed = api.patch_job(key, {"tags": {"team": "ops"}}, api_version=version).json()
        # then systemData says when, and the job has no managed identity
        assert created["systemData"]["createdAt"] == created["systemData"]["lastModifiedAt"]
        assert changed["systemData"]["createdAt"] == created["systemData"]["createdAt"]
        assert changed["systemData"]["lastModifiedAt"] > created["systemData"]["lastModifiedAt"]
        assert changed["systemData"]["createdAt"].endswith("Z")
        assert changed["identity"] == {"type": "None"}

    def test_2016_shows_neither(self, api, new_key):
        job = api.put_job(new_key(), api_version=V2016).json()
        assert set(job) == {"id", "name", "type", "location", "tags", "properties"}

    @pytest.mark.parametrize("version", (V2016, *LATER_VERSIONS))
    def test_no_version_shows_the_service_times_among_the_properties(self, api, job_in_state, version):
        # given a job that went through every time the service keeps (created, changed, moved, finished)
        key = job_in_state(JobState.COMPLETED)
        # then none of them is a property
        properties = api.get_job(key, api_version=version).json()["properties"]
        assert not set(SERVICE_TIMES) & set(properties)

    def test_a_later_version_answer_sent_back_is_accepted_and_its_read_only_parts_ignored(self, api, new_key):
        # given a job as GET shows it, with systemData and identity
        key = new_key()
        api.put_job(key, api_version=V2021)
        shown = api.get_job(key, api_version=V2021).json()
        shown["systemData"]["createdAt"] = "2001-01-01T00:00:00Z"
        shown["identity"] = {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"}
        # when it is PUT back
        replaced = api.put_job(key, shown, api_version=V2021)
        # then it replaced the job, and what only the service sets stayed the service's
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["systemData"]["createdAt"] != "2001-01-01T00:00:00Z"
        assert replaced.json()["identity"] == {"type": "None"}

    @pytest.mark.parametrize("name", ["systemData", "identity"])
    def test_2016_refuses_what_it_does_not_define(self, api, new_key, name):
        body = {**job_body(), name: {}}
        response = api.put_job(new_key(), body, api_version=V2016)
        assert response.status_code == 400
        assert f"'{name}' is not defined in api-version 2016-11-01" in error_of(response)["message"]


class TestEncryptionKey:
    def test_later_versions_keep_and_show_it(self, api, new_key):
        key = new_key()
        created = api.put_job(key, job_body(encryptionKey=ENCRYPTION_KEY), api_version=V2021)
        assert created.json()["properties"]["encryptionKey"] == ENCRYPTION_KEY

    def test_2016_does_not_show_it(self, api, new_key):
        key = new_key()
        api.put_job(key, job_body(encryptionKey=ENCRYPTION_KEY), api_version=V2021)
        assert "encryptionKey" not in api.get_job(key, api_version=V2016).json()["properties"]

    def test_2016_refuses_it(self, api, new_key):
        response = api.put_job(new_key(), job_body(encryptionKey=ENCRYPTION_KEY), api_version=V2016)
        assert response.status_code == 400
        assert "'encryptionKey' is not defined in api-version 2016-11-01" in error_of(response)["message"]


def test_listings_answer_in_the_requested_version(api, new_key, subscription_id):
    # given an Export job
    key = new_key()
    api.put_job(key, export_body("blobListBlobPath"), api_version=V2021)
    # when both versions list the subscription
    old = api.list_jobs(subscription_id, api_version=V2016).json()["value"][0]
    new = api.list_jobs(subscription_id, api_version=V2021).json()["value"][0]
    # then each shows its own shape
    assert (old["properties"]["export"], "systemData" in old) == ({"blobListblobPath": "container/list.xml"}, False)
    assert (new["properties"]["export"], "systemData" in new) == ({"blobListBlobPath": "container/list.xml"}, True)
