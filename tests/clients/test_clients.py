"""Today's official clients of api-version 2021-01-01 work against the app unchanged, every operation they have.

Each client runs as a program of its own against the dev host: the Python client
azure-mgmt-storageimportexport 1.0.0b2 in `.venv-clients` (it shares 0.1.0's package name), the JavaScript
client @azure/arm-storageimportexport 2.1.0 from the project's node_modules. Each prints what every step
returned or raised; each test here asserts one step.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from scripts.azurite import ROOT

from ..builders import PROVIDER_OPERATIONS
from ..entra import ALL_ROLES

PYTHON_CLIENT = ROOT / ".venv-clients" / "bin" / "python"
BITLOCKER_KEY = "238810-662376-448998-450120-652806-203390-606320-483076"
CLIENTS = ("python", "javascript")


def run_client(command: list[str], environment: dict[str, str] | None = None) -> dict:
    env = {**os.environ, **(environment or {})}
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


PROGRAMS = {
    "python": [str(PYTHON_CLIENT), "tests/clients/python_client.py"],
    "javascript": ["node", "tests/clients/js_client.mjs"],
}


class Reports:
    """Each client's report of one run through every operation, in a subscription of its own; run once, on demand.

    `environment` is what the client programs are given (an Entra ID token, trust in the app's certificate)."""

    def __init__(self, base_url: str, environment: dict[str, str] | None = None, subscription: str | None = None) -> None:
        self.base_url = base_url
        self.environment = environment
        self.subscription = subscription
        self.cache: dict[str, dict] = {}

    def __getitem__(self, client: str) -> dict:
        if client not in self.cache:
            subscription = self.subscription or str(uuid.uuid4())
            self.cache[client] = run_client([*PROGRAMS[client], self.base_url, subscription], self.environment)
        return self.cache[client]


def clients_installed() -> None:
    if not PYTHON_CLIENT.exists() or shutil.which("node") is None:
        pytest.fail("the clients are not installed: run `make deps` (make test does)")


@pytest.fixture(scope="module", params=["keys", "entra"])
def reports(request) -> Reports:
    """The clients against the app as `make run` serves it (keys), and as the Entra ID recipe deploys it: over HTTPS
    behind Easy Auth, each client sending an Entra ID token whose roles allow every operation."""
    clients_installed()
    if request.param == "keys":
        return Reports(request.getfixturevalue("devhost").base_url)
    host = request.getfixturevalue("behind_easy_auth")
    return Reports(host.base_url, host.client_environment(host.token(*ALL_ROLES)))


def result_of(reports: Reports, client: str, step: str):
    outcome = reports[client]["steps"][step]
    assert outcome["ok"], outcome
    return outcome["result"]


@pytest.mark.parametrize("client", CLIENTS)
def test_create(reports, client):
    assert result_of(reports, client, "create") == {"state": "Creating", "location": "westus", "created": True}


@pytest.mark.parametrize("client", CLIENTS)
def test_get_shows_identity_and_never_a_bitlocker_key(reports, client):
    assert result_of(reports, client, "get") == {"identity": "None", "bitLockerKeyShown": None}


@pytest.mark.parametrize("client", CLIENTS)
def test_update_of_tags_alone(reports, client):
    # the client's update body carries cancelRequested: false and backupDriveManifest: false as well
    assert result_of(reports, client, "update_tags") == {"team": "ops"}


@pytest.mark.parametrize("client", CLIENTS)
def test_ship_with_carrier_and_tracking_number(reports, client):
    assert result_of(reports, client, "update_ship") == {"state": "Shipping", "trackingNumber": "123456789"}


@pytest.mark.parametrize("client", CLIENTS)
def test_cancel_after_the_datacenter_received_the_drives(reports, client):
    result_of(reports, client, "operator_receive")
    assert result_of(reports, client, "update_cancel_received") == {"state": "Received", "cancelRequested": True}


@pytest.mark.parametrize("client", CLIENTS)
def test_bitlocker_keys_list(reports, client):
    assert result_of(reports, client, "bitlocker_keys_list") == [{"driveId": "9CA995BA", "bitLockerKey": BITLOCKER_KEY}]


@pytest.mark.parametrize("client", CLIENTS)
def test_export_job_keeps_its_blob_list_path(reports, client):
    assert result_of(reports, client, "create_export") == "container/list.xml"


@pytest.mark.parametrize("client", CLIENTS)
def test_list_by_resource_group_a_job_a_page(reports, client):
    assert result_of(reports, client, "list_by_resource_group_pages") == ["export-job", "import-job"]


@pytest.mark.parametrize("client", CLIENTS)
def test_list_by_subscription(reports, client):
    assert result_of(reports, client, "list_by_subscription") == ["export-job", "import-job"]


@pytest.mark.parametrize("client", CLIENTS)
def test_list_with_a_filter(reports, client):
    assert result_of(reports, client, "list_filtered") == ["export-job"]


@pytest.mark.parametrize("client", CLIENTS)
def test_delete_and_delete_again(reports, client):
    result_of(reports, client, "delete")
    result_of(reports, client, "delete_absent")


@pytest.mark.parametrize("client", CLIENTS)
def test_get_of_a_deleted_job_raises_not_found(reports, client):
    outcome = reports[client]["steps"]["get_absent"]
    assert (outcome["ok"], outcome["status"], outcome["code"]) == (False, 404, "ResourceNotFound")


def test_answers_carry_only_properties_the_python_client_defines(reports):
    assert reports["python"]["undefined"] == []


@pytest.mark.parametrize("client", CLIENTS)
def test_locations_list(reports, client):
    names = result_of(reports, client, "locations_list")
    assert {"West US", "Australia East", "Australia Southeast"} <= set(names)


@pytest.mark.parametrize("client", CLIENTS)
def test_locations_get_by_display_name(reports, client):
    carriers = ["Blue Dart", "DHL", "FedEx", "TNT", "UPS"]
    assert result_of(reports, client, "locations_get") == {"name": "West US", "carriers": carriers}


@pytest.mark.parametrize("client", CLIENTS)
def test_operations_list(reports, client):
    assert result_of(reports, client, "operations_list") == PROVIDER_OPERATIONS
