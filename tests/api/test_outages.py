"""A storage outage is a 503 ARM error with Retry-After, never a hang or a stack trace; unusable settings are a 500."""

from __future__ import annotations

import json
import time

import pytest
import requests

import cancel_job
import delete_job
import get_job
import list_jobs_by_subscription
from scripts.azurite import connection_string, free_port
from scripts.devhost_process import DevHostProcess

from ..builders import LOCATIONS_PATH
from ..harness import JOB_ROUTE, function_request, serving_app


@pytest.fixture
def storage_down(app_settings):
    """The app pointed at a port where no storage listens, served for this test only."""
    with serving_app(app_settings.model_copy(update={"storage_connection": connection_string(free_port())})):
        yield


@pytest.mark.parametrize(
    "function,route", [(get_job, JOB_ROUTE), (list_jobs_by_subscription, {"subscriptionId": JOB_ROUTE["subscriptionId"]})]
)
def test_storage_outage_is_503_with_retry_after(storage_down, function, route):
    # when storage cannot be reached
    started = time.monotonic()
    response = function.main(function_request(route=route))
    elapsed = time.monotonic() - started
    # then the caller gets a 503 ARM error that says when to retry, within the retry policy's bound
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert json.loads(response.get_body())["error"]["code"] == "ServiceUnavailable"
    assert elapsed < 30


@pytest.mark.parametrize("function", [get_job, delete_job, cancel_job, list_jobs_by_subscription])
def test_bad_names_are_refused_before_any_storage_call(storage_down, function):
    response = function.main(function_request(route={**JOB_ROUTE, "subscriptionId": "bad'id"}, body=b"{}"))
    assert response.status_code == 400


def test_a_key_that_is_not_base64_is_a_configuration_error_not_an_outage():
    # given the app, as a process of its own, pointed at storage with a key that cannot be base64
    bad_key = connection_string(free_port()).replace("AccountKey=", "AccountKey=%%")
    with DevHostProcess(bad_key, capture_output=True) as host:
        # when a job is read
        response = requests.get(
            f"http://127.0.0.1:{host.port}/subscriptions/{JOB_ROUTE['subscriptionId']}/resourceGroups/rg"
            "/providers/Microsoft.ImportExport/jobs/job?api-version=2021-01-01",
            timeout=30,
        )
    # then the answer is a configuration error with no Retry-After (retrying cannot help), and the log says why
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "InvalidConfiguration"
    assert "Retry-After" not in response.headers
    assert "AccountKey is not base64" in host.output


def test_the_locations_answer_while_storage_is_down():
    # given the app, as a process of its own, pointed at a port where no storage listens
    with DevHostProcess(connection_string(free_port())) as host:
        base = f"http://127.0.0.1:{host.port}"
        # when the locations are asked for, before and after a job route has tried storage
        before = requests.get(f"{base}{LOCATIONS_PATH}/westus", params={"api-version": "2021-01-01"}, timeout=30)
        job = requests.get(
            f"{base}/subscriptions/{JOB_ROUTE['subscriptionId']}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs/job",
            params={"api-version": "2021-01-01"},
            timeout=30,
        )
        after = requests.get(f"{base}{LOCATIONS_PATH}", params={"api-version": "2021-01-01"}, timeout=30)
    # then the locations, which need no storage, answer; the job route says storage is unavailable
    assert before.status_code == 200 and before.json()["name"] == "West US"
    assert job.status_code == 503 and job.headers["Retry-After"] == "5"
    assert after.status_code == 200 and len(after.json()["value"]) == 32
