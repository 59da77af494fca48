"""The job routes over HTTP against real Azurite: every status code and state rule of the contract."""

from __future__ import annotations

import pytest

from shared.domain.job import JobState

from ..builders import DELIVERY_PACKAGE, RETURN_ADDRESS, job_body, shippable_body
from ..harness import assert_arm_error, error_of


class TestApiVersion:
    def test_missing_api_version_is_400(self, api, new_key):
        response = api.get_job(new_key(), api_version=None)
        assert response.status_code == 400
        assert error_of(response)["code"] == "MissingApiVersionParameter"

    def test_unknown_api_version_is_400(self, api, new_key):
        response = api.put_job(new_key(), api_version="2099-01-01")
        assert response.status_code == 400
        assert error_of(response)["code"] == "InvalidApiVersionParameter"
        assert "2016-11-01, 2020-08-01, 2021-01-01" in error_of(response)["message"]

    @pytest.mark.parametrize("version", ["2016-11-01", "2020-08-01", "2021-01-01"])
    def test_every_supported_version_works(self, api, new_key, version):
        key = new_key()
        assert api.put_job(key, api_version=version).status_code == 201
        assert api.get_job(key, api_version=version).status_code == 200


class TestCreateAndGet:
    def test_put_creates_then_get_returns_the_arm_shape(self, api, new_key):
        # given a new job name
        key = new_key()
        # when it is created
        created = api.put_job(key)
        # then the answer is 201 with the ARM resource and an ETag
        assert created.status_code == 201
        job = created.json()
        assert job["id"] == key.resource_id
        assert job["name"] == key.job_name
        assert job["type"] == "Microsoft.ImportExport/jobs"
        assert job["location"] == "westus"
        assert job["tags"] == {"team": "data"}
        assert job["properties"]["state"] == "Creating"
        assert job["properties"]["cancelRequested"] is False
        assert job["properties"]["provisioningState"] == "Succeeded"
        assert job["properties"]["jobType"] == "Import"
        assert created.headers["ETag"]
        # and GET returns the same job and ETag, its location by its display name, as the service shows it
        fetched = api.get_job(key)
        assert fetched.status_code == 200
        assert fetched.json() == {**job, "location": "West US"}
        assert fetched.headers["ETag"] == created.headers["ETag"]

    def test_put_again_in_creating_replaces_with_200(self, api, new_key):
        key = new_key()
        first = api.put_job(key).json()
        replaced = api.put_job(key, job_body(diagnosticsPath="elsewhere"))
        assert replaced.status_code == 200
        assert replaced.json()["properties"]["diagnosticsPath"] == "elsewhere"
        assert replaced.json()["systemData"]["createdAt"] == first["systemData"]["createdAt"]

    def test_put_on_a_shipped_job_is_409_naming_the_state(self, api, job_in_state):
        key = job_in_state(JobState.SHIPPING)
        response = api.put_job(key)
        assert response.status_code == 409
        assert error_of(response)["code"] == "InvalidJobState"
        assert "state Shipping" in error_of(response)["message"]

    def test_if_none_match_star_makes_put_create_only(self, api, new_key):
        key = new_key()
        assert api.put_job(key, headers={"If-None-Match": "*"}).status_code == 201
        again = api.put_job(key, job_body(diagnosticsPath="x"), headers={"If-None-Match": "*"})
        assert again.status_code == 412
        assert error_of(again)["code"] == "PreconditionFailed"
        assert api.get_job(key).json()["properties"]["diagnosticsPath"] == "waimportexport"

    def test_put_with_if_match_needs_the_current_etag(self, api, new_key):
        key = new_key()
        etag = api.put_job(key).headers["ETag"]
        assert api.put_job(key, headers={"If-Match": '"stale"'}).status_code == 412
        assert api.put_job(key, headers={"If-Match": etag}).status_code == 200

    def test_put_with_if_match_on_an_absent_job_is_412(self, api, new_key):
        key = new_key()
        assert api.put_job(key, headers={"If-Match": "*"}).status_code == 412
        assert api.get_job(key).status_code == 404

    def test_get_absent_job_is_404_resource_not_found(self, api, new_key):
        response = api.get_job(new_key())
        assert response.status_code == 404
        assert error_of(response)["code"] == "ResourceNotFound"

    def test_names_are_case_insensitive(self, api, new_key):
        key = new_key("My-Group")
        api.put_job(key)
        other_case = type(key)(key.subscription_id.upper(), "MY-GROUP", key.job_name.upper())
        response = api.get_job(other_case)
        assert response.status_code == 200
        assert response.json()["name"] == key.job_name  # the name keeps its first casing
        assert api.put_job(other_case).status_code == 200  # the same job, replaced
        assert api.delete_job(other_case).status_code == 200
        assert api.get_job(key).status_code == 404

    def test_routes_are_case_insensitive(self, api, new_key):
        key = new_key()
        api.put_job(key)
        path = key.resource_id.replace("resourceGroups", "resourcegroups").replace(
            "Microsoft.ImportExport", "microsoft.importexport"
        )
        assert api.request("GET", path).status_code == 200


class TestCustomerMovesOverHttp:
    def test_ship_then_cancel_then_operator_finishes(self, api, job_store, new_key):
        # given a job with shipping details
        key = new_key()
        api.put_job(key, shippable_body())
        # when the customer ships it and then cancels
        shipped = api.patch_job(key, {"properties": {"state": "Shipping"}})
        cancelled = api.cancel_job(key)
        # then the cancel is recorded and the state kept
        assert shipped.json()["properties"]["state"] == "Shipping"
        assert cancelled.status_code == 200
        assert (cancelled.json()["properties"]["state"], cancelled.json()["properties"]["cancelRequested"]) == ("Shipping", True)
        # and the datacenter takes it through Received and Packaging to Completed
        for state in ("Received", "Packaging", "Completed"):
            assert api.move_job(key, state).status_code == 200
        assert api.get_job(key).json()["properties"]["state"] == "Completed"
        assert job_store.get(key).job.properties.completed_at is not None

    def test_ship_without_shipping_details_is_400_and_writes_nothing(self, api, new_key):
        key = new_key()
        etag = api.put_job(key).headers["ETag"]
        response = api.patch_job(key, {"properties": {"state": "Shipping"}})
        assert response.status_code == 400
        assert error_of(response)["code"] == "ShippingInformationMissing"
        assert api.get_job(key).headers["ETag"] == etag

    def test_ship_with_details_in_the_same_request(self, api, new_key):
        key = new_key()
        api.put_job(key)
        body = {"properties": {"state": "Shipping", "returnAddress": RETURN_ADDRESS, "deliveryPackage": DELIVERY_PACKAGE}}
        assert api.patch_job(key, body).json()["properties"]["state"] == "Shipping"

    def test_cancel_in_creating_is_answered_in_creating(self, api, job_in_state):
        # given a job in Creating
        key = job_in_state(JobState.CREATING)
        # when it is cancelled, then the answer shows the cancel recorded and the job still in Creating, as the real
        # service answers
        properties = api.cancel_job(key).json()["properties"]
        assert (properties["state"], properties["cancelRequested"]) == ("Creating", True)
        assert api.get_job(key).json()["properties"]["state"] == "Creating"

    def test_the_service_completes_a_cancel_in_creating_by_itself(self, api, job_store, job_in_state, complete_cancels):
        # given a job cancelled in Creating
        key = job_in_state(JobState.CREATING)
        api.cancel_job(key)
        # when the service's completion runs (its timer, every few seconds)
        complete_cancels()
        # then the job is Completed, its cancel recorded, its retention counting from the completion
        properties = api.get_job(key).json()["properties"]
        assert (properties["state"], properties["cancelRequested"]) == ("Completed", True)
        stored = job_store.get(key).job.properties
        assert stored.completed_at is not None
        assert stored.completed_at == stored.state_changed_at

    def test_a_job_whose_cancel_is_pending_can_be_deleted(self, api, job_in_state):
        key = job_in_state(JobState.CREATING, cancel_requested=True)
        assert api.delete_job(key).status_code == 200
        assert api.get_job(key).status_code == 404

    def test_a_job_whose_cancel_is_pending_is_not_shipped(self, api, job_in_state):
        key = job_in_state(JobState.CREATING, cancel_requested=True)
        response = api.patch_job(key, {"properties": {"state": "Shipping"}})
        assert_arm_error(response, 409, "InvalidStateTransition")
        assert api.get_job(key).json()["properties"]["state"] == "Creating"

    @pytest.mark.parametrize("state", [JobState.SHIPPING, JobState.RECEIVED, JobState.TRANSFERRING])
    def test_cancel_in_flight_is_recorded(self, api, job_in_state, state):
        key = job_in_state(state)
        properties = api.cancel_job(key).json()["properties"]
        assert (properties["state"], properties["cancelRequested"]) == (state, True)

    @pytest.mark.parametrize("state", [JobState.PACKAGING, JobState.COMPLETED, JobState.CLOSED])
    def test_cancel_from_packaging_on_is_409(self, api, job_in_state, state):
        key = job_in_state(state)
        etag = api.get_job(key).headers["ETag"]
        response = api.cancel_job(key)
        assert response.status_code == 409
        assert error_of(response)["code"] == "InvalidJobState"
        assert f"The job is in state {state}" in error_of(response)["message"]
        assert api.get_job(key).headers["ETag"] == etag

    def test_cancel_twice_answers_200_without_writing(self, api, job_in_state):
        key = job_in_state(JobState.SHIPPING, cancel_requested=True)
        before = api.get_job(key)
        again = api.cancel_job(key)
        assert again.status_code == 200
        assert again.headers["ETag"] == before.headers["ETag"]
        assert again.json() == before.json()

    @pytest.mark.parametrize("cancelled", [False, True])
    def test_cancel_false_changes_nothing(self, api, job_in_state, cancelled):
        # given a shipped job, cancelled or not
        key = job_in_state(JobState.SHIPPING, cancel_requested=cancelled)
        before = api.get_job(key)
        # when an update says cancelRequested: false, as the 2021-01-01 clients send on every update
        response = api.patch_job(key, {"properties": {"cancelRequested": False}})
        # then it is 200 with the job as it was: nothing written, a recorded cancel never withdrawn
        assert response.status_code == 200
        assert response.headers["ETag"] == before.headers["ETag"]
        assert response.json()["properties"]["cancelRequested"] is cancelled

    def test_values_equal_to_the_jobs_are_no_change_in_any_state(self, api, job_in_state):
        # given a job the datacenter has received, where its shipping details may no longer change
        key = job_in_state(JobState.RECEIVED)
        before = api.get_job(key)
        properties = before.json()["properties"]
        # when an update sends them back unchanged, with backupDriveManifest's default (false) and a cancel
        body = {
            "properties": {
                "returnAddress": properties["returnAddress"],
                "deliveryPackage": properties["deliveryPackage"],
                "logLevel": properties["logLevel"],
                "backupDriveManifest": False,
                "cancelRequested": True,
            }
        }
        response = api.patch_job(key, body)
        # then the cancel is recorded and nothing is refused for the state
        assert response.status_code == 200, response.text
        assert response.json()["properties"]["cancelRequested"] is True

    def test_a_changed_value_is_still_refused_outside_creating_and_shipping(self, api, job_in_state):
        # given a received job
        key = job_in_state(JobState.RECEIVED)
        # when an update changes a property that may change only before that
        response = api.patch_job(key, {"properties": {"backupDriveManifest": True}})
        # then it is refused, naming the state and the property
        assert response.status_code == 409
        assert error_of(response)["code"] == "InvalidJobState"
        assert "properties.backupDriveManifest" in error_of(response)["message"]

    @pytest.mark.parametrize("state", [JobState.RECEIVED, JobState.COMPLETED])
    def test_customer_moves_other_than_shipping_are_409(self, api, job_in_state, state):
        key = job_in_state(state)
        response = api.patch_job(key, {"properties": {"state": "Shipping"}})
        assert response.status_code == 409
        assert error_of(response)["code"] == "InvalidStateTransition"
        assert f"The job is in state {state}" in error_of(response)["message"]

    def test_patch_tags_and_properties(self, api, job_in_state):
        key = job_in_state(JobState.SHIPPING)
        body = {"tags": {"owner": "ops"}, "properties": {"logLevel": "Verbose", "backupDriveManifest": True}}
        job = api.patch_job(key, body).json()
        assert job["tags"] == {"owner": "ops"}
        assert (job["properties"]["logLevel"], job["properties"]["backupDriveManifest"]) == ("Verbose", True)

    @pytest.mark.parametrize("state", [JobState.CREATING, JobState.SHIPPING])
    def test_an_empty_state_beside_other_fields_is_no_state(self, api, job_in_state, state):
        # given a job, and an update as the Python client's live test sends it: "state": "" beside other fields
        key = job_in_state(state)
        body = {"tags": {"tag1": "value1"}, "properties": {"state": "", "logLevel": "Verbose"}}
        # when it is sent, then the service takes it as no state at all: the other fields change, the state does not
        response = api.patch_job(key, body)
        assert response.status_code == 200, response.text
        assert (response.json()["properties"]["state"], response.json()["properties"]["logLevel"]) == (state, "Verbose")

    def test_patch_properties_after_receipt_is_409(self, api, job_in_state):
        key = job_in_state(JobState.RECEIVED)
        response = api.patch_job(key, {"properties": {"returnShipping": {"carrierName": "UPS", "carrierAccountNumber": "1"}}})
        assert response.status_code == 409
        assert error_of(response)["code"] == "InvalidJobState"
        assert "state Received" in error_of(response)["message"]

    def test_patch_with_stale_if_match_is_412_and_current_works(self, api, job_in_state):
        key = job_in_state(JobState.SHIPPING)
        stale = api.get_job(key).headers["ETag"]
        current = api.patch_job(key, {"tags": {"v": "2"}}).headers["ETag"]
        assert api.cancel_job(key, headers={"If-Match": stale}).status_code == 412
        assert api.get_job(key).json()["properties"]["cancelRequested"] is False
        assert api.cancel_job(key, headers={"If-Match": current}).status_code == 200

    def test_patch_absent_job_is_404(self, api, new_key):
        assert api.cancel_job(new_key()).status_code == 404


class TestDelete:
    @pytest.mark.parametrize("state", [JobState.CREATING, JobState.COMPLETED])
    def test_delete_in_creating_or_completed_is_200_and_the_job_is_gone(self, api, job_in_state, state):
        key = job_in_state(state)
        response = api.delete_job(key)
        assert response.status_code == 200
        assert api.get_job(key).status_code == 404
        assert key.job_name not in [j["name"] for j in api.list_jobs(key.subscription_id).json()["value"]]
        assert key.job_name not in [j["name"] for j in api.list_jobs(key.subscription_id, key.resource_group).json()["value"]]

    def test_delete_of_a_cancelled_job_once_completed(self, api, job_in_state):
        key = job_in_state(JobState.COMPLETED, cancel_requested=True)
        assert api.delete_job(key).status_code == 200

    @pytest.mark.parametrize(
        "state", [JobState.SHIPPING, JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING, JobState.CLOSED]
    )
    def test_delete_in_other_states_is_409_and_keeps_the_job(self, api, job_in_state, state):
        key = job_in_state(state)
        response = api.delete_job(key)
        assert response.status_code == 409
        assert f"The job is in state {state}" in error_of(response)["message"]
        assert api.get_job(key).status_code == 200

    def test_delete_of_an_absent_job_is_200(self, api, new_key):
        # given no job of that name
        # when it is deleted (say, a client retrying a delete whose answer it lost)
        response = api.delete_job(new_key())
        # then the answer is 200, the only status the specification declares for delete
        assert response.status_code == 200

    def test_delete_with_stale_if_match_is_412_and_keeps_the_job(self, api, new_key):
        key = new_key()
        stale = api.put_job(key).headers["ETag"]
        current = api.patch_job(key, {"tags": {"v": "2"}}).headers["ETag"]
        assert api.delete_job(key, headers={"If-Match": stale}).status_code == 412
        assert api.get_job(key).status_code == 200
        assert api.delete_job(key, headers={"If-Match": current}).status_code == 200

    def test_delete_with_if_match_on_an_absent_job_is_412(self, api, new_key):
        assert api.delete_job(new_key(), headers={"If-Match": "*"}).status_code == 412

    def test_a_deleted_name_can_be_created_again(self, api, new_key):
        key = new_key()
        api.put_job(key)
        api.delete_job(key)
        assert api.put_job(key).status_code == 201


class TestBitLockerKeys:
    DRIVES = [{"driveId": "9CA995BB", "bitLockerKey": "000000-111111-222222-333333"}, {"driveId": "9CA995BC"}]

    def list_keys(self, api, key):
        return api.request("POST", f"{key.resource_id}/listBitLockerKeys")

    def test_keys_are_never_in_a_job_body_or_a_listing(self, api, new_key):
        # given a job created with a drive's BitLocker key
        key = new_key()
        created = api.put_job(key, job_body(driveList=self.DRIVES))
        # when it is read and listed
        bodies = [created.text, api.get_job(key).text, api.list_jobs(key.subscription_id, key.resource_group).text]
        # then no answer carries the key, while the drives are there
        assert all("000000-111111" not in body and "bitLockerKey" not in body for body in bodies)
        assert [drive["driveId"] for drive in api.get_job(key).json()["properties"]["driveList"]] == ["9CA995BB", "9CA995BC"]

    def test_list_bitlocker_keys_returns_each_drives_key(self, api, new_key):
        # given a job with one drive that has a key and one that has none
        key = new_key()
        api.put_job(key, job_body(driveList=self.DRIVES))
        # when its keys are listed
        response = self.list_keys(api, key)
        # then the answer holds the one key, by drive
        assert response.status_code == 200
        assert response.json() == {"value": [{"driveId": "9CA995BB", "bitLockerKey": "000000-111111-222222-333333"}]}

    def test_list_bitlocker_keys_of_an_absent_job_is_404(self, api, new_key):
        response = self.list_keys(api, new_key())
        assert response.status_code == 404
        assert error_of(response)["code"] == "ResourceNotFound"
