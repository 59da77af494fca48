"""Reading requests, with no storage: bodies as the api-version reads them, and the query's api-version."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

import get_job
from shared.api.bodies import MAX_JSON_DEPTH, read_body
from shared.domain.errors import BadRequest
from shared.domain.requests import JobUpdateRequest
from shared.settings import DEVELOPMENT_STORAGE, Settings

from ..builders import LOCATIONS
from ..harness import JOB_ROUTE, function_request, serving_app


def test_read_body_names_the_problem():
    deep = b'{"tags": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}"
    with pytest.raises(BadRequest, match="nested deeper than"):
        read_body(function_request("PATCH", body=deep), JobUpdateRequest)
    update = read_body(
        function_request(
            "PATCH",
            body=b'{"properties": {"cancelRequested": true}}',
            headers={"Content-Type": "application/json; charset=utf-8"},
        ),
        JobUpdateRequest,
    )
    assert update.properties.cancel_requested is True


@pytest.mark.parametrize(
    "query",
    [
        "api-version=bogus&api-version=2021-01-01",
        "api-version=2021-01-01&api-version=bogus",
        "api-version=2021-01-01&API-VERSION=2021-01-01",
    ],
)
def test_a_repeated_api_version_is_400_whichever_comes_last(query):
    # given an app (never connected to storage) and a request whose URL names api-version twice
    req = func.HttpRequest("GET", f"http://localhost/x?{query}", headers={}, params={}, route_params=JOB_ROUTE, body=b"")
    # when it reaches a function, then it is refused before anything is read
    with serving_app(Settings(storage_connection=DEVELOPMENT_STORAGE, locations=LOCATIONS)):
        response = get_job.main(req)
    assert response.status_code == 400
    assert json.loads(response.get_body())["error"]["code"] == "InvalidApiVersionParameter"
