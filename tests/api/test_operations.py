"""The provider's operations list, as its specification lists it in every version, and the ARM 404 for every path (or
method) no operation of the API takes."""

from __future__ import annotations

import pytest

from ..builders import API_VERSION, OPERATIONS_PATH
from ..harness import assert_arm_error


def display(provider_resource: str, operation: str, description: str) -> dict:
    return {
        "provider": "Microsoft Import/Export",
        "resource": provider_resource,
        "operation": operation,
        "description": description,
    }


# List Operations as the specification shows it, the same in every version.
OPERATIONS = {
    "value": [
        {
            "name": "Microsoft.ImportExport/locations/read",
            "display": display(
                "Locations",
                "Get or List Locations",
                "Gets the properties for the specified location or returns the list of locations.",
            ),
        },
        {
            "name": "Microsoft.ImportExport/jobs/write",
            "display": display(
                "Jobs",
                "Create or Update Job",
                "Creates a job with the specified parameters or update the properties or tags for the specified job.",
            ),
        },
        {
            "name": "Microsoft.ImportExport/jobs/read",
            "display": display(
                "Jobs", "Get or List Jobs", "Gets the properties for the specified job or returns the list of jobs."
            ),
        },
        {
            "name": "Microsoft.ImportExport/jobs/listBitLockerKeys/action",
            "display": display("Jobs", "List BitLocker Keys", "Gets the BitLocker keys for the specified job."),
        },
        {"name": "Microsoft.ImportExport/jobs/delete", "display": display("Jobs", "Delete Job", "Deletes an existing job.")},
        {
            "name": "Microsoft.ImportExport/register/action",
            "display": display(
                "Import/Export Resource Provider",
                "Registers the Import/Export Resource Provider",
                "Registers the subscription for the import/export resource provider and enables the creation of "
                "import/export jobs.",
            ),
        },
    ]
}


@pytest.mark.parametrize("version", ["2016-11-01", "2020-08-01", "2021-01-01"])
def test_operations_are_the_specifications_list(api, version):
    # when the provider's operations are listed in any version
    response = api.request("GET", OPERATIONS_PATH, api_version=version)
    # then they are exactly the list the specification's example shows
    assert response.status_code == 200
    assert response.json() == OPERATIONS


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/"),
        ("GET", "/providers/Microsoft.ImportExport/nothing"),
        ("GET", "/providers/Microsoft.ImportExport/locations/westus/more"),
        ("POST", "/providers/Microsoft.ImportExport/operations"),
        ("DELETE", "/providers/Microsoft.ImportExport/locations/westus"),
        ("PUT", "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.ImportExport/jobs"),
        ("PATCH", "/api/jobs"),
        ("OPTIONS", "/subscriptions"),
    ],
)
@pytest.mark.parametrize("api_version", [API_VERSION, None])
def test_any_other_path_or_method_is_404_with_an_arm_error(api, method, path, api_version):
    # when a path (or a method) no operation of the API takes is called, with or without an api-version
    response = api.request(method, path, api_version=api_version)
    # then it is a 404 that names what was asked
    error = assert_arm_error(response, 404, "NotFound")
    assert error["message"] == f"No operation of this API answers {method} {path}."


def test_a_wrong_method_on_a_job_is_404_like_any_unknown_path(api, new_key):
    # given a job
    key = new_key()
    assert api.put_job(key).status_code == 201
    # when it is called with a method its route does not take
    response = api.request("POST", key.resource_id)
    # then it is a 404, as the Functions host answers it, and the job is untouched
    assert_arm_error(response, 404, "NotFound")
    assert api.get_job(key).status_code == 200
