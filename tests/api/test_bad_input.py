"""Bad input gets a 4xx with an ARM error body naming the problem, and nothing is written."""

from __future__ import annotations

import gzip
import json

import pytest

from ..builders import job_body, shippable_body
from ..harness import assert_arm_error

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000ba"


def raw_put(api, key, data: bytes, content_type: str = "application/json"):
    return api.request("PUT", key.resource_id, data=data, headers={"Content-Type": content_type})


@pytest.mark.parametrize(
    "data",
    [b"{", b"not json", b"[]", b"42", b'"text"', b"null", b"", b"   ", b"\xff\xfe{", b'{"location": "westus",}'],
)
def test_malformed_or_non_object_json_is_400_and_creates_nothing(api, new_key, data):
    key = new_key()
    assert_arm_error(raw_put(api, key, data), 400, "InvalidRequestContent")
    assert api.get_job(key).status_code == 404


@pytest.mark.parametrize(
    "change,target",
    [
        ({"location": 5}, "location"),
        ({"tags": {"a": 1}}, "tags.a"),
        ({"tags": ["a"]}, "tags"),
        ({"properties": "x"}, "properties"),
        ({"properties": {"jobType": "Import"}}, "body"),
        ({"properties": {"storageAccountId": "x", "jobType": "Sideways"}}, "properties.jobType"),
        (
            {"properties": {"storageAccountId": "x", "jobType": "Import", "backupDriveManifest": "yes"}},
            "properties.backupDriveManifest",
        ),
        ({"properties": {"storageAccountId": "x", "jobType": "Import", "logLevel": "Loud"}}, "properties.logLevel"),
        ({"properties": {"storageAccountId": "x", "jobType": "Import", "unknownField": 1}}, "properties.unknownField"),
        (
            {"properties": {"storageAccountId": "x", "jobType": "Import", "driveList": [{"percentComplete": 101}]}},
            "properties.driveList.0.percentComplete",
        ),
        (
            {"properties": {"storageAccountId": "x", "jobType": "Import", "driveList": [{"bytesSucceeded": 2**63}]}},
            "properties.driveList.0.bytesSucceeded",
        ),
        ({"tags": {"a/b": "c"}}, "tags.a/b.[key]"),
        ({"location": ""}, "location"),
    ],
)
def test_wrong_types_and_values_are_400_naming_the_field(api, new_key, change, target):
    key = new_key()
    body = {**job_body(), **change}
    if "properties" in change and isinstance(change["properties"], dict) and "storageAccountId" not in change["properties"]:
        body["properties"] = change["properties"]
    error = assert_arm_error(api.put_job(key, body), 400, "InvalidRequestContent")
    assert error["target"] == target
    assert api.get_job(key).status_code == 404


def test_missing_location_is_400(api, new_key):
    body = job_body()
    del body["location"]
    assert assert_arm_error(api.put_job(new_key(), body), 400)["target"] == "location"


def test_patch_with_wrong_types_changes_nothing(api, new_key):
    key = new_key()
    etag = api.put_job(key, shippable_body()).headers["ETag"]
    for body in (
        {"properties": {"cancelRequested": "true"}},
        {"properties": {"cancelRequested": 1}},
        {"properties": {"state": "shipping"}},
        {"properties": {"state": "Lost"}},
        {"properties": {"deliveryPackage": {"carrierName": "x"}}},
        {"tags": "none"},
        {"properties": []},
    ):
        assert_arm_error(api.patch_job(key, body), 400, "InvalidRequestContent")
    assert api.get_job(key).headers["ETag"] == etag


def test_unknown_state_names_get_400(api, new_key):
    key = new_key()
    api.put_job(key, shippable_body())
    error = assert_arm_error(api.patch_job(key, {"properties": {"state": "Teleported"}}), 400)
    assert error["target"] == "properties.state"


def test_oversize_body_is_413(api, new_key):
    # given a body one byte over the 64 KiB limit
    key = new_key()
    data = json.dumps(job_body(diagnosticsPath="x")).encode()
    data = data.replace(b'"x"', b'"' + b"x" * (64 * 1024 + 1 - len(data) + 1) + b'"')
    assert len(data) == 64 * 1024 + 1
    # when it is sent, then the answer is 413 naming the limit, and nothing is created
    error = assert_arm_error(raw_put(api, key, data), 413, "RequestTooLarge")
    assert "limit is 65536" in error["message"]
    assert api.get_job(key).status_code == 404


# Ten drives whose fields each keep within their own limits, together past a table column's 32,000 characters.
LONG_DRIVES = [
    {
        "driveId": f"9CA995B{i}",
        "manifestFile": "m" * 1024,
        "manifestHash": "h" * 256,
        "driveHeaderHash": "d" * 256,
        "verboseLogUri": "v" * 1024,
        "errorLogUri": "e" * 1024,
        "manifestUri": "u" * 1024,
    }
    for i in range(10)
]


def test_a_job_whose_properties_exceed_a_table_column_is_413_and_creates_nothing(api, new_key):
    # given a body well under the 64 KiB limit whose properties take more than a table column's 32,000 characters
    key = new_key()
    body = job_body(driveList=LONG_DRIVES)
    assert len(json.dumps(body)) < 64 * 1024
    # when it is sent, then the answer is 413 naming the column's limit, and nothing is created
    error = assert_arm_error(api.put_job(key, body), 413, "RequestTooLarge")
    assert "limit is 31,000" in error["message"]
    assert api.get_job(key).status_code == 404


def test_an_update_whose_tags_exceed_a_table_column_is_413_and_changes_nothing(api, new_key):
    # given a job in Creating
    key = new_key()
    etag = api.put_job(key, job_body()).headers["ETag"]
    # when a PATCH gives it 50 tags of the longest names and values, 38,400 characters together
    tags = {f"{i:02d}" + "t" * 510: "v" * 256 for i in range(50)}
    response = api.patch_job(key, {"tags": tags})
    # then the answer is 413 naming the tags, and the job is as it was
    error = assert_arm_error(response, 413, "RequestTooLarge")
    assert "tags" in error["message"] and "limit is 31,000" in error["message"]
    assert api.get_job(key).headers["ETag"] == etag


# 50 tags of 400 ASCII characters and 40 emoji in each name and 190 characters in each value: 31,800 characters of
# JSON, within the limit as Python counts; 33,800 UTF-16 units, beyond it as Table Storage counts (and beyond storage's
# own 32,768, which it refuses).
EMOJI_TAGS = {f"{i:02d}" + "t" * 398 + "\U0001f600" * 40: "v" * 190 for i in range(50)}


def test_tags_of_emoji_beyond_storages_count_are_413_on_create_and_create_nothing(api, new_key):
    key = new_key()
    # the premise: within the limit in Python's characters, and within the body limit
    tags_json = json.dumps(EMOJI_TAGS, ensure_ascii=False, separators=(",", ":"))
    assert len(tags_json) <= 32_000 < len(tags_json.encode("utf-16-le")) // 2
    error = assert_arm_error(api.put_job(key, {**job_body(), "tags": EMOJI_TAGS}), 413, "RequestTooLarge")
    assert "tags" in error["message"] and "UTF-16" in error["message"]
    assert api.get_job(key).status_code == 404


def test_tags_of_emoji_beyond_storages_count_are_413_on_update_and_change_nothing(api, new_key):
    key = new_key()
    etag = api.put_job(key, job_body()).headers["ETag"]
    assert_arm_error(api.patch_job(key, {"tags": EMOJI_TAGS}), 413, "RequestTooLarge")
    assert api.get_job(key).headers["ETag"] == etag


def test_a_compressed_body_is_415(api, new_key):
    # given a gzip-compressed body
    key = new_key()
    data = gzip.compress(json.dumps(job_body()).encode())
    # when it is sent with Content-Encoding: gzip, then the answer is 415 and nothing is created
    response = api.request(
        "PUT", api.job_path(key), data=data, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    assert_arm_error(response, 415, "UnsupportedContentEncoding")
    assert api.get_job(key).status_code == 404


def test_too_long_strings_are_400(api, new_key):
    assert_arm_error(api.put_job(new_key(), job_body(diagnosticsPath="x" * 2000)), 400, "InvalidRequestContent")


def test_too_many_tags_are_400(api, new_key):
    body = job_body()
    body["tags"] = {f"t{i}": "v" for i in range(51)}
    assert_arm_error(api.put_job(new_key(), body), 400, "InvalidRequestContent")


def test_deeply_nested_json_is_400(api, new_key):
    key = new_key()
    deep = b'{"location": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_arm_error(raw_put(api, key, deep), 400, "InvalidRequestContent")
    deeper = b'{"a": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    assert_arm_error(raw_put(api, key, deeper), 400)


def test_duplicate_json_keys_are_400(api, new_key):
    data = b'{"location": "westus", "location": "eastus", "properties": {"storageAccountId": "x", "jobType": "Import"}}'
    error = assert_arm_error(raw_put(api, new_key(), data), 400, "InvalidRequestContent")
    assert "location" in error["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_wrong_content_type_is_415(api, new_key, content_type):
    key = new_key()
    assert_arm_error(raw_put(api, key, json.dumps(job_body()).encode(), content_type), 415, "UnsupportedMediaType")
    assert api.get_job(key).status_code == 404


@pytest.mark.parametrize(
    "job_name,code",
    [
        ("quo'te", "InvalidResourceName"),
        ('dq"uote', "InvalidResourceName"),
        ("sl%2Fash", "InvalidResourceName"),
        ("back%5Cslash", "InvalidResourceName"),
        ("ctl%00char", "InvalidResourceName"),
        ("new%0Aline", "InvalidResourceName"),
        ("x" * 65, "InvalidResourceName"),
        ("a' or PartitionKey ne '", "InvalidResourceName"),
    ],
)
def test_hostile_job_names_are_400(api, job_name, code):
    path = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs/{job_name}"
    for method, body in (("PUT", job_body()), ("GET", None), ("PATCH", {"properties": {}}), ("DELETE", None)):
        response = api.request(method, path, json=body)
        assert_arm_error(response, 400, code)


def test_hostile_resource_group_is_400(api):
    path = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg' or '1' eq '1/providers/Microsoft.ImportExport/jobs"
    assert_arm_error(api.request("GET", path), 400, "InvalidResourceGroupName")


def test_hostile_subscription_is_400(api):
    path = "/subscriptions/x' or 'a' eq 'a/providers/Microsoft.ImportExport/jobs"
    assert_arm_error(api.request("GET", path), 400, "InvalidSubscriptionId")
