"""Drives the app with the Python client azure-mgmt-storageimportexport 1.0.0b2 (api-version 2021-01-01).

Every operation the client has, called as an app calls it; prints one JSON object: by step, what the client
returned or raised, and any property of an answer the client's models do not define. `tests/clients/test_clients.py`
runs it in a virtual environment of its own (`.venv-clients`): this client and 0.1.0, which the suite imports,
install the same package name.

    python tests/clients/python_client.py BASE_URL SUBSCRIPTION_ID

With CLIENT_TOKEN (and CLIENT_SCOPE) set, the client authenticates as an app does against Entra ID: its credential
hands that bearer token to azure-core's own bearer-token policy, for the scope the app asks for
(`credential_scopes`), and refuses any other scope; the operator's plain requests carry it too. The dev host must
then serve HTTPS (azure-core sends no token over http), trusted through SSL_CERT_FILE / REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.storageimportexport import StorageImportExport, models
from conformance import undefined_properties

RESOURCE_GROUP = "client-rg"
STORAGE_ACCOUNT = "/subscriptions/x/resourceGroups/client-rg/providers/Microsoft.Storage/storageAccounts/acct"


class UnusedCredential:
    """The app leaves authentication to the platform in front of it; the client still wants a credential."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("not-checked", 2**31)


class TokenCredential:
    """An Entra ID credential that already holds its token (CLIENT_TOKEN) for the one scope it was issued for."""

    def __init__(self, token: str, scope: str) -> None:
        self.token, self.scope = token, scope

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if scopes != (self.scope,):
            raise ValueError(f"the client asked for a token for {scopes}, not {self.scope}")
        return AccessToken(self.token, 2**31)


TOKEN = os.environ.get("CLIENT_TOKEN")
SCOPE = os.environ.get("CLIENT_SCOPE", "")


def authorization() -> dict[str, str]:
    """The bearer header of the operator's plain requests, when the client has a token."""
    return {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}


class Report:
    def __init__(self) -> None:
        self.steps: dict[str, dict[str, Any]] = {}

    def step(self, name: str, call: Callable[[], Any], summary: Callable[[Any], Any] = lambda result: None) -> Any:
        try:
            result = call()
        except HttpResponseError as error:
            code = error.error.code if error.error is not None else None
            self.steps[name] = {"ok": False, "status": error.status_code, "code": code, "message": str(error)[:300]}
            return None
        except urllib.error.HTTPError as error:  # the operator's plain request
            self.steps[name] = {"ok": False, "status": error.code, "code": None, "message": error.read()[:300].decode()}
            return None
        self.steps[name] = {"ok": True, "result": summary(result)}
        return result


def raw_and_model(response, deserialized, headers):
    """`cls` for one call: the answer's JSON beside the client's model of it."""
    return json.loads(response.http_response.text()), deserialized


def operator_move(base_url: str, subscription_id: str, job_name: str, state: str) -> None:
    """The datacenter's move, which no client has: a plain POST to the operator route."""
    url = (
        f"{base_url}/operator/subscriptions/{subscription_id}/resourceGroups/{RESOURCE_GROUP}/jobs/{job_name}/state"
        "?api-version=2021-01-01"
    )
    request = urllib.request.Request(
        url, json.dumps({"state": state}).encode(), {"Content-Type": "application/json", **authorization()}
    )
    urllib.request.urlopen(request, timeout=30).read()


def _raw_get(base_url: str, path: str) -> tuple[Any, None]:
    """An answer's JSON as the service sent it, for the conformance check of a listing the client pages through."""
    request = urllib.request.Request(f"{base_url}{path}?api-version=2021-01-01", headers=authorization())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read()), None


def main(base_url: str, subscription_id: str) -> dict[str, Any]:
    if TOKEN:
        credential, options = TokenCredential(TOKEN, SCOPE), {"credential_scopes": [SCOPE]}
    else:
        credential, options = UnusedCredential(), {"authentication_policy": SansIOHTTPPolicy()}
    client = StorageImportExport(credential, subscription_id, base_url=base_url, **options)
    jobs = client.jobs
    report = Report()
    undefined: list[str] = []

    def conform(pair: tuple[Any, Any], model: type = models.JobResponse) -> Any:
        raw, deserialized = pair
        undefined.extend(undefined_properties(raw, model, models))
        return deserialized

    import_job = models.PutJobParameters(
        location="westus",
        tags={"team": "data"},
        properties=models.JobDetails(
            storage_account_id=STORAGE_ACCOUNT,
            job_type="Import",
            diagnostics_path="waimportexport",
            log_level="Verbose",
            drive_list=[
                models.DriveStatus(drive_id="9CA995BA", bit_locker_key="238810-662376-448998-450120-652806-203390-606320-483076")
            ],
        ),
    )
    report.step(
        "create",
        lambda: conform(jobs.create("import-job", RESOURCE_GROUP, import_job, cls=raw_and_model)),
        lambda job: {"state": job.properties.state, "location": job.location, "created": job.system_data.created_at is not None},
    )
    report.step(
        "get",
        lambda: conform(jobs.get("import-job", RESOURCE_GROUP, cls=raw_and_model)),
        lambda job: {"identity": job.identity.type, "bitLockerKeyShown": job.properties.drive_list[0].bit_locker_key},
    )
    report.step(
        "update_tags",
        lambda: jobs.update("import-job", RESOURCE_GROUP, models.UpdateJobParameters(tags={"team": "ops"})),
        lambda job: job.tags,
    )
    address = models.ReturnAddress(
        recipient_name="Ada",
        street_address1="1 Way",
        city="Redmond",
        postal_code="98052",
        country_or_region="USA",
        phone="4250000000",
        email="ada@example.com",
    )
    package = models.DeliveryPackageInformation(carrier_name="FedEx", tracking_number="123456789")
    ship = models.UpdateJobParameters(state="Shipping", return_address=address, delivery_package=package)
    report.step(
        "update_ship",
        lambda: jobs.update("import-job", RESOURCE_GROUP, ship),
        lambda job: {"state": job.properties.state, "trackingNumber": job.properties.delivery_package.tracking_number},
    )
    report.step("operator_receive", lambda: operator_move(base_url, subscription_id, "import-job", "Received"))
    report.step(
        "update_cancel_received",
        lambda: jobs.update("import-job", RESOURCE_GROUP, models.UpdateJobParameters(cancel_requested=True)),
        lambda job: {"state": job.properties.state, "cancelRequested": job.properties.cancel_requested},
    )
    report.step(
        "get_cancelled",
        lambda: conform(jobs.get("import-job", RESOURCE_GROUP, cls=raw_and_model)),
        lambda job: job.properties.delivery_package.carrier_name,
    )
    report.step(
        "bitlocker_keys_list",
        lambda: list(client.bit_locker_keys.list("import-job", RESOURCE_GROUP)),
        lambda keys: [{"driveId": key.drive_id, "bitLockerKey": key.bit_locker_key} for key in keys],
    )

    export_job = models.PutJobParameters(
        location="westus",
        properties=models.JobDetails(
            storage_account_id=STORAGE_ACCOUNT, job_type="Export", export=models.Export(blob_list_blob_path="container/list.xml")
        ),
    )
    report.step(
        "create_export",
        lambda: conform(jobs.create("export-job", RESOURCE_GROUP, export_job, cls=raw_and_model)),
        lambda job: job.properties.export.blob_list_blob_path,
    )
    report.step(
        "list_by_resource_group_pages",
        lambda: list(jobs.list_by_resource_group(RESOURCE_GROUP, top=1)),
        lambda found: sorted(job.name for job in found),
    )
    report.step(
        "list_by_subscription", lambda: list(jobs.list_by_subscription()), lambda found: sorted(job.name for job in found)
    )
    report.step(
        "list_filtered",
        lambda: list(jobs.list_by_subscription(filter="type eq 'Export' and state eq 'Creating'")),
        lambda found: [job.name for job in found],
    )
    report.step("delete", lambda: jobs.delete("export-job", RESOURCE_GROUP))
    report.step("delete_absent", lambda: jobs.delete("export-job", RESOURCE_GROUP))
    report.step("get_absent", lambda: jobs.get("export-job", RESOURCE_GROUP))
    report.step("locations_list", lambda: list(client.locations.list()), lambda found: [location.name for location in found])
    report.step(
        "operations_conform",
        lambda: conform(_raw_get(base_url, "/providers/Microsoft.ImportExport/operations"), models.ListOperationsResponse),
    )
    report.step(
        "locations_get",
        lambda: conform(client.locations.get("West US", cls=raw_and_model), models.Location),
        lambda location: {"name": location.name, "carriers": location.supported_carriers},
    )
    report.step("operations_list", lambda: list(client.operations.list()), lambda found: [operation.name for operation in found])
    return {"steps": report.steps, "undefined": undefined}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
