"""Each api-version's own shapes over HTTP: what a request may and must carry, and what an answer shows."""

from __future__ import annotations

import pytest

from shared.domain.job import JobState

from ..builders import DELIVERY_PACKAGE, RETURN_ADDRESS, job_body
from ..harness import error_of

V2016, V2020, V2021 = "2016-11-01", "2020-08-01", "2021-01-01"
LATER_VERSIONS = (V2020, V2021)
TWO_FIELD_PACKAGE = {"carrierName": "FedEx", "trackingNumber": "987654321"}
SERVICE_TIMES = ("createdAt", "updatedAt", "stateChangedAt", "completedAt")
ENCRYPTION_KEY = {"kekType": "MicrosoftManaged"}


def export_body(path_name: str) -> dict:
    return job_body(jobType="Export", export={path_name: "container/list.xml"})


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
        assert error_of(response)["code"] == "InvalidRequestContent"
        assert "spells it 'blobListblobPath'" in error_of(response)["message"]

    @pytest.mark.parametrize("version", LATER_VERSIONS)
    def test_later_versions_refuse_the_2016_spelling(self, api, new_key, version):
        response = api.put_job(new_key(), export_body("blobListblobPath"), api_version=version)
        assert response.status_code == 400
        assert error_of(response)["code"] == "InvalidRequestContent"
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

    def test_2016_shows_identity_but_not_system_data(self, api, new_key):
        # as the service answers 2016-11-01 (recorded): identity, which its clients ignore, and no systemData
        job = api.put_job(new_key(), api_version=V2016).json()
        assert set(job) - {"tags"} == {"id", "name", "type", "location", "properties", "identity"}
        assert job["identity"] == {"type": "None"}

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

    def test_2016_refuses_system_data_which_it_does_not_define(self, api, new_key):
        response = api.put_job(new_key(), {**job_body(), "systemData": {}}, api_version=V2016)
        assert response.status_code == 400
        assert error_of(response)["code"] == "InvalidRequestContent"
        assert "'systemData' is not defined in api-version 2016-11-01" in error_of(response)["message"]

    def test_2016_ignores_the_identity_it_was_shown(self, api, new_key):
        body = {**job_body(), "identity": {"type": "None"}}
        assert api.put_job(new_key(), body, api_version=V2016).status_code == 201


class TestEncryptionKey:
    def test_later_versions_keep_and_show_it(self, api, new_key):
        key = new_key()
        created = api.put_job(key, job_body(encryptionKey=ENCRYPTION_KEY), api_version=V2021)
        assert created.json()["properties"]["encryptionKey"] == ENCRYPTION_KEY

    def test_2016_shows_it_too(self, api, new_key):
        # the service shows it at 2016-11-01 as well (recorded), though that version's specification has none
        key = new_key()
        api.put_job(key, job_body(encryptionKey=ENCRYPTION_KEY), api_version=V2021)
        assert api.get_job(key, api_version=V2016).json()["properties"]["encryptionKey"] == ENCRYPTION_KEY

    def test_every_version_shows_the_default_when_none_was_set(self, api, new_key):
        key = new_key()
        api.put_job(key, job_body(), api_version=V2016)
        for version in (V2016, V2021):
            assert api.get_job(key, api_version=version).json()["properties"]["encryptionKey"] == {"kekType": "MicrosoftManaged"}

    def test_2016_cannot_set_it_and_what_it_sends_back_is_ignored(self, api, new_key):
        # given a job with a customer-managed key, replaced by a 2016 client that sends back a different one
        key = new_key()
        api.put_job(key, job_body(encryptionKey=ENCRYPTION_KEY), api_version=V2021)
        sent_back = job_body(encryptionKey={"kekType": "MicrosoftManaged"})
        assert api.put_job(key, sent_back, api_version=V2016).status_code == 200
        # then the job keeps its own
        assert api.get_job(key, api_version=V2021).json()["properties"]["encryptionKey"] == ENCRYPTION_KEY


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


class TestWhatClientsSendBack:
    @pytest.mark.parametrize(
        "read_only",
        [
            {"properties": {"state": None}},
            {"properties": {"state": "Bogus", "percentComplete": 500, "returnPackage": {"carrierName": "x"}}},
            {"properties": {"provisioningState": 7, "incompleteBlobListUri": ["x"], "cancelRequested": "yes"}},
            {"systemData": {"createdAt": 5}, "identity": "none", "id": 1, "name": None, "type": []},
        ],
    )
    def test_read_only_properties_of_any_value_are_ignored_on_put(self, api, new_key, read_only):
        # given a new job's body carrying what only the service sets, with values no answer would have
        body = job_body()
        body = {**body, **{k: v for k, v in read_only.items() if k != "properties"}}
        body["properties"] = {**body["properties"], **read_only.get("properties", {})}
        # when it is PUT
        response = api.put_job(new_key(), body, api_version=V2021)
        # then the job is created as the service makes it
        assert response.status_code == 201, response.text
        assert response.json()["properties"]["state"] == "Creating"
        assert "percentComplete" not in response.json()["properties"]  # the copy has not started

    def test_a_tag_update_from_a_2021_client_keeps_backup_drive_manifest(self, api, new_key):
        # given a job past Shipping whose drive manifests are backed up
        key = new_key()
        body = job_body(backupDriveManifest=True, returnAddress=RETURN_ADDRESS, deliveryPackage=DELIVERY_PACKAGE)
        api.put_job(key, body, api_version=V2021)
        api.patch_job(key, {"properties": {"state": "Shipping"}})
        api.move_job(key, "Received")
        # when a 2021-01-01 client updates its tags, sending the specification's defaults as it always does
        patch = {"tags": {"team": "x"}, "properties": {"cancelRequested": False, "backupDriveManifest": False}}
        response = api.patch_job(key, patch, api_version=V2021)
        # then the tags changed and nothing else (backupDriveManifest could not change in Received)
        assert response.status_code == 200, response.text
        assert (response.json()["tags"], response.json()["properties"]["backupDriveManifest"]) == ({"team": "x"}, True)

    def test_a_2021_client_cannot_clear_backup_drive_manifest_by_its_default(self, api, new_key):
        key = new_key()
        api.put_job(key, job_body(backupDriveManifest=True), api_version=V2021)
        response = api.patch_job(key, {"properties": {"backupDriveManifest": False}}, api_version=V2021)
        assert response.json()["properties"]["backupDriveManifest"] is True

    def test_a_2016_client_clears_backup_drive_manifest_when_it_says_so(self, api, new_key):
        # (0.1.0 sends the property only when set: false from it is meant)
        key = new_key()
        api.put_job(key, job_body(backupDriveManifest=True), api_version=V2016)
        response = api.patch_job(key, {"properties": {"backupDriveManifest": False}}, api_version=V2016)
        assert response.json()["properties"]["backupDriveManifest"] is False

    def test_a_cancel_that_repeats_the_current_state_cancels(self, api, job_in_state):
        # given a shipped job, read and sent back by a client with the cancel set
        key = job_in_state(JobState.SHIPPING)
        # when the PATCH carries the state the job is in
        response = api.patch_job(key, {"properties": {"cancelRequested": True, "state": "Shipping"}})
        # then it is a cancel, not a state change
        assert response.status_code == 200, response.text
        assert (response.json()["properties"]["state"], response.json()["properties"]["cancelRequested"]) == ("Shipping", True)

    def test_a_drive_list_sent_back_as_shown_is_no_change_and_keeps_the_keys(self, api, job_in_state, new_key):
        # given a job past Shipping with a drive and its BitLocker key (which no answer shows)
        key = new_key()
        drive = {"driveId": "D1", "bitLockerKey": "123-456", "manifestFile": "\\DriveManifest.xml"}
        api.put_job(
            key,
            {
                **job_body(driveList=[drive]),
                "properties": {
                    **job_body(driveList=[drive])["properties"],
                    "returnAddress": RETURN_ADDRESS,
                    "deliveryPackage": DELIVERY_PACKAGE,
                },
            },
        )
        api.patch_job(key, {"properties": {"state": "Shipping"}})
        api.move_job(key, "Received")
        shown = api.get_job(key).json()["properties"]["driveList"]
        # when a client sends the list back as it read it, with the drive state its model defaults to
        response = api.patch_job(key, {"properties": {"driveList": [{**shown[0], "state": "Specified"}]}})
        # then it is no change (not refused in Received), and the key is still there
        assert response.status_code == 200, response.text
        keys = api.request("POST", api.job_path(key) + "/listBitLockerKeys").json()["value"]
        assert keys == [{"driveId": "D1", "bitLockerKey": "123-456"}]

    def test_a_2016_client_replacing_a_job_keeps_the_encryption_key_it_cannot_see(self, api, new_key):
        # given a job with a customer-managed key, created under 2021-01-01
        key = new_key()
        encryption = {"kekType": "CustomerManaged", "kekUrl": "https://vault/key", "kekVaultResourceID": "/vault"}
        api.put_job(key, job_body(encryptionKey=encryption), api_version=V2021)
        # when a 2016-11-01 client reads it and sends it back
        shown = api.get_job(key, api_version=V2016).json()
        assert api.put_job(key, shown, api_version=V2016).status_code == 200
        # then the key is still the job's
        assert api.get_job(key, api_version=V2021).json()["properties"]["encryptionKey"] == encryption
