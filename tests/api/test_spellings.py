"""The wire names are the API's (camelCase) alone: any other spelling of a property (its Python name, snake_case) is an
unknown property, refused as any unknown property is, in every api-version, on create and on update."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from shared.domain.job import JobDetails

from ..builders import job_body, shippable_body
from ..harness import assert_arm_error

VERSIONS = ["2016-11-01", "2021-01-01"]


def other_spellings(model: type[BaseModel], path: str) -> list[tuple[str, str]]:
    """(path of the object, a spelling of one of its properties that is not the API's) for each multi-word property
    of `model`: its Python name."""
    found = []
    for name, field in model.model_fields.items():
        if field.alias is not None and field.alias != name:
            found.append((path, name))
    return found


TOP_LEVEL = other_spellings(JobDetails, "properties")
# A value each property takes under its API name (those of both api-versions).
VALID_VALUES = {
    "storage_account_id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/b",
    "job_type": "Export",
    "return_address": shippable_body()["properties"]["returnAddress"],
    "return_shipping": {"carrierName": "FedEx", "carrierAccountNumber": "123"},
    "shipping_information": {"recipientName": "A", "streetAddress1": "1 Way", "city": "C", "postalCode": "1"},
    "delivery_package": shippable_body()["properties"]["deliveryPackage"],
    "return_package": {"carrierName": "FedEx", "trackingNumber": "1", "driveCount": 1, "shipDate": "2026-11-20"},
    "diagnostics_path": "elsewhere",
    "log_level": "Verbose",
    "backup_drive_manifest": True,
    "cancel_requested": True,
    "percent_complete": 5,
    "incomplete_blob_list_uri": "https://x/y",
    "drive_list": [{"driveId": "D1"}],
    "provisioning_state": "Succeeded",
    "encryption_key": {"kekType": "MicrosoftManaged"},
}
NESTED = [
    ("properties.returnAddress", "street_address1", shippable_body()["properties"]["returnAddress"]),
    ("properties.returnAddress", "postal_code", shippable_body()["properties"]["returnAddress"]),
    ("properties.deliveryPackage", "carrier_name", shippable_body()["properties"]["deliveryPackage"]),
    ("properties.deliveryPackage", "drive_count", shippable_body()["properties"]["deliveryPackage"]),
]


def test_every_multi_word_property_is_tried():
    # the premise: the models' own fields, not a list written by hand, so a new property is covered as it comes
    assert {name for _, name in TOP_LEVEL} == set(VALID_VALUES)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("path", "spelling"), TOP_LEVEL, ids=[name for _, name in TOP_LEVEL])
def test_a_property_under_another_spelling_is_unknown_on_create(api, new_key, version, path, spelling):
    # given a job body with one property spelt as the API does not spell it, its value one the API would take
    key = new_key()
    body = job_body()
    body["properties"][spelling] = VALID_VALUES[spelling]
    # when it is created, then it is refused as an unknown property, naming it, and nothing is stored
    error = assert_arm_error(api.put_job(key, body, api_version=version), 400, "InvalidRequestContent")
    assert error["target"] == f"{path}.{spelling}"
    assert api.get_job(key).status_code == 404


@pytest.mark.parametrize(("path", "spelling", "value"), NESTED, ids=[f"{p}.{s}" for p, s, _ in NESTED])
def test_a_nested_property_under_another_spelling_is_unknown(api, new_key, path, spelling, value):
    key = new_key()
    body = shippable_body()
    inner = dict(value)
    inner[spelling] = "x"
    body["properties"][path.split(".")[1]] = inner
    error = assert_arm_error(api.put_job(key, body), 400, "InvalidRequestContent")
    assert error["target"] == f"{path}.{spelling}"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "properties",
    [{"backup_drive_manifest": False}, {"cancel_requested": True}, {"log_level": "Verbose"}, {"encryption_key": {}}],
    ids=["backup_drive_manifest", "cancel_requested", "log_level", "encryption_key"],
)
def test_an_update_under_another_spelling_is_unknown_and_changes_nothing(api, new_key, version, properties):
    # given a job that backs up its drive manifest
    key = new_key()
    api.put_job(key, {**job_body(), "properties": {**job_body()["properties"], "backupDriveManifest": True}})
    before = api.get_job(key)
    # when it is updated with a property spelt as the API does not spell it
    response = api.patch_job(key, {"properties": properties}, api_version=version)
    # then the update is refused, naming the property, and the job is as it was
    error = assert_arm_error(response, 400, "InvalidRequestContent")
    assert error["target"] == f"properties.{next(iter(properties))}"
    assert api.get_job(key).headers["ETag"] == before.headers["ETag"]
