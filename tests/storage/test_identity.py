"""Keys off, storage by identity: the whole contract against an Azurite that refuses the app any shared key.

Azurite serves HTTPS with a certificate made here, takes bearer tokens (`--oauth basic`) and has one account, whose
key is random and never given to the app; the app signs in with azure-identity's real `ManagedIdentityCredential`,
pointed by IDENTITY_ENDPOINT/IDENTITY_HEADER at a token endpoint of the tests' own (`tests.identity_endpoint`).
Azurite checks a token's issuer, audience and times but not its signature: this proves the identity plumbing (the
settings, the credential, the token on every request, the refusals), not Entra ID itself.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import timedelta

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError

from scripts.azurite import ACCOUNT_KEY, ROOT, AzuriteTable, free_port
from scripts.devhost_process import DevHostProcess
from shared.app import open_app
from shared.domain.clock import FixedClock, SystemClock
from shared.domain.jobs import Preconditions
from shared.domain.names import JobKey
from shared.settings import CONNECTION_SETTING, Settings
from shared.storage.client import table_service
from shared.storage_connection import IdentityConnection, IdentityKind

from ..builders import CANCEL, LOCATIONS, shippable_body, shippable_request, update_request
from ..devhost.identity import self_signed_certificate
from ..identity_endpoint import IdentityEndpoint

pytestmark = pytest.mark.azurite

JOBS = "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs"
VERSION = {"api-version": "2021-01-01"}


@pytest.fixture(scope="module")
def keyless(tmp_path_factory):
    """Azurite over HTTPS with OAuth and a random-key account, a token endpoint, and the settings that reach them."""
    folder = tmp_path_factory.mktemp("keyless")
    certificate = self_signed_certificate(folder)
    random_key = base64.b64encode(secrets.token_bytes(64)).decode()
    storage = AzuriteTable(cert=certificate.cert, key=certificate.key, oauth=True, account="jobsacct", account_key=random_key)
    with storage, IdentityEndpoint().running() as identity:
        environment = {
            **identity.environment,
            "REQUESTS_CA_BUNDLE": str(certificate.cert),
            "IMPORTEXPORT_STORAGE_CONNECTION__tableServiceUri": storage.endpoint,
            "IMPORTEXPORT_STORAGE_CONNECTION__credential": "managedidentity",
            "IMPORTEXPORT_TABLE_NAME": "Keyless" + uuid.uuid4().hex[:10],
        }
        yield storage, identity, environment


@pytest.fixture(scope="module")
def app_by_identity(keyless):
    """The dev host (its own process) serving the app, which reaches storage by managed identity alone."""
    _, _, environment = keyless
    with DevHostProcess(None, None, environment=environment) as host:
        yield f"http://127.0.0.1:{host.port}"


def command(keyless, module: str, *args: str) -> subprocess.CompletedProcess:
    _, _, environment = keyless
    env = {**os.environ, **environment}
    env.pop("IMPORTEXPORT_STORAGE_CONNECTION", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def job_url(base: str, sub: str, name: str) -> str:
    return base + JOBS.format(sub=sub) + f"/{name}"


def finished_long_ago(keyless, monkeypatch, sub: str, name: str) -> None:
    """A job cancelled in Creating and completed 100 days ago, past the 90 days' retention: written by an app in this
    process at that time, which signs in to storage by the same managed identity."""
    storage, _, environment = keyless
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    identity = IdentityConnection(CONNECTION_SETTING, storage.endpoint, IdentityKind.MANAGED_IDENTITY)
    settings = Settings(storage_identity=identity, table_name=environment["IMPORTEXPORT_TABLE_NAME"], locations=LOCATIONS)
    key = JobKey(sub, "rg", name)
    with open_app(settings, clock=FixedClock(SystemClock().now() - timedelta(days=100))) as app:
        app.jobs.create_job(key, shippable_request(), Preconditions())
        app.jobs.update_job(key, update_request(CANCEL), Preconditions())
        app.jobs.complete_cancel(key)


def test_the_well_known_development_key_is_refused(keyless, monkeypatch):
    # the premise: a shared key the app could know does not open this storage
    storage, _, environment = keyless
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", environment["REQUESTS_CA_BUNDLE"])
    wrong = storage.connection_string.replace(storage.account_key, ACCOUNT_KEY)
    with pytest.raises(ClientAuthenticationError):
        table_service(wrong).create_table("Probe")


def test_create_cancel_list_and_delete_by_managed_identity(app_by_identity, keyless):
    # given the app, signed in to storage by its managed identity
    base, sub = app_by_identity, str(uuid.uuid4())
    # when a job is created, cancelled (Creating), listed and deleted
    created = requests.put(job_url(base, sub, "j1"), params=VERSION, json=shippable_body(), timeout=30)
    assert created.status_code == 201, created.text
    cancelled = requests.patch(job_url(base, sub, "j1"), params=VERSION, json=CANCEL, timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["properties"]["cancelRequested"] is True
    listed = requests.get(base + JOBS.format(sub=sub), params=VERSION, timeout=30)
    assert [job["name"] for job in listed.json()["value"]] == ["j1"]
    assert requests.delete(job_url(base, sub, "j1"), params=VERSION, timeout=30).status_code == 200
    # then each worked, and the job is gone
    assert requests.get(job_url(base, sub, "j1"), params=VERSION, timeout=30).status_code == 404


def test_tokens_are_fetched_once_and_reused(app_by_identity, keyless):
    # given the app has served a request (so its credential holds a token)
    base, sub = app_by_identity, str(uuid.uuid4())
    _, identity, _ = keyless
    requests.get(job_url(base, sub, "absent"), params=VERSION, timeout=30)
    served = identity.tokens_served
    # when it serves twenty more
    for _ in range(20):
        assert requests.get(job_url(base, sub, "absent"), params=VERSION, timeout=30).status_code == 404
    # then it asked the endpoint for no new token: the credential caches it until it nears expiry
    assert identity.tokens_served == served >= 1
    assert identity.refused == 0


def test_the_purge_timer_deletes_by_identity(app_by_identity, keyless, monkeypatch):
    base, sub = app_by_identity, str(uuid.uuid4())
    finished_long_ago(keyless, monkeypatch, sub, "old")
    assert requests.get(job_url(base, sub, "old"), params=VERSION, timeout=30).status_code == 200
    # when the timer runs now (the dev host's admin route, as the Functions host's)
    assert requests.post(f"{base}/admin/functions/purge_timer", json={}, timeout=60).status_code == 202
    # then the expired job is deleted (the timer runs in the background: wait for it)
    for _ in range(100):
        if requests.get(job_url(base, sub, "old"), params=VERSION, timeout=30).status_code == 404:
            break
        time.sleep(0.1)
    assert requests.get(job_url(base, sub, "old"), params=VERSION, timeout=30).status_code == 404


def test_the_purge_command_deletes_by_identity(app_by_identity, keyless, monkeypatch):
    base, sub = app_by_identity, str(uuid.uuid4())
    finished_long_ago(keyless, monkeypatch, sub, "old-by-hand")
    assert requests.get(job_url(base, sub, "old-by-hand"), params=VERSION, timeout=30).status_code == 200
    result = command(keyless, "shared.purge")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert requests.get(job_url(base, sub, "old-by-hand"), params=VERSION, timeout=30).status_code == 404


def test_migrate_runs_by_identity(app_by_identity, keyless):
    result = command(keyless, "shared.migrate", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_the_settings_check_names_the_identity_and_no_secret(keyless):
    storage, _, _ = keyless
    result = command(keyless, "shared.settings")
    assert result.returncode == 0, result.stderr
    assert f"identity-based connection IMPORTEXPORT_STORAGE_CONNECTION__*: {storage.endpoint}" in result.stdout
    assert "system-assigned managed identity" in result.stdout
    assert storage.account_key not in result.stdout


def test_a_wrong_key_is_an_arm_error_and_one_log_line(keyless):
    # given the app with a connection string of the right account but the wrong (development) key
    storage, _, environment = keyless
    wrong = storage.connection_string.replace(storage.account_key, ACCOUNT_KEY)
    settings = {"REQUESTS_CA_BUNDLE": environment["REQUESTS_CA_BUNDLE"], "IMPORTEXPORT_TABLE_NAME": "WrongKey"}
    with DevHostProcess(wrong, None, environment=settings, capture_output=True) as host:
        base = f"http://127.0.0.1:{host.port}"
        answers = [
            requests.put(job_url(base, str(uuid.uuid4()), "j"), params=VERSION, json=shippable_body(), timeout=30),
            requests.get(base + JOBS.format(sub=str(uuid.uuid4())), params=VERSION, timeout=30),
        ]
    # then each request is a 500 with an ARM error body, and the log says what to check, with no stack trace
    for answer in answers:
        assert answer.status_code == 500
        assert set(json.loads(answer.text)["error"]) == {"code", "message"}
    assert "refused the app's credentials" in host.output
    assert "Traceback" not in host.output
    assert ACCOUNT_KEY not in host.output


@pytest.mark.parametrize(
    "endpoint,status,logged",
    [
        ("down", 503, "could not get a token for storage"),
        ("hanging", 503, "could not get a token for storage"),
        ("wrong audience", 500, "refused the app's credentials"),
    ],
)
def test_a_token_the_app_cannot_get_or_storage_refuses_is_one_log_line(keyless, endpoint, status, logged):
    # given the app signing in by managed identity through a token endpoint that is down, never answers, or gives
    # tokens for another audience
    storage, _, environment = keyless
    with ExitStack() as stack:
        if endpoint == "down":
            identity_environment = {"IDENTITY_ENDPOINT": f"http://127.0.0.1:{free_port()}/msi/token", "IDENTITY_HEADER": "h"}
        else:
            options = {"hang": True} if endpoint == "hanging" else {"audience": "https://another.example"}
            identity_environment = stack.enter_context(IdentityEndpoint(**options).running()).environment
        host = stack.enter_context(
            DevHostProcess(None, None, environment={**environment, **identity_environment}, capture_output=True)
        )
        # when a job is asked for
        started = time.monotonic()
        answer = requests.get(job_url(f"http://127.0.0.1:{host.port}", str(uuid.uuid4()), "j"), params=VERSION, timeout=60)
        took = time.monotonic() - started
        stack.close()
    # then the caller gets an ARM error within the request's storage budget, and the log one line that says why
    assert answer.status_code == status and set(answer.json()["error"]) == {"code", "message"}
    assert took < 12
    assert logged in host.output
    assert "Traceback" not in host.output


def test_a_command_whose_identity_gets_no_token_exits_1_as_for_an_outage(keyless):
    # given the purge command, its identity's token endpoint down (it may be back next time, as storage may)
    _, _, environment = keyless
    env = {**os.environ, **environment, "IDENTITY_ENDPOINT": f"http://127.0.0.1:{free_port()}/msi/token"}
    env.pop("IMPORTEXPORT_STORAGE_CONNECTION", None)
    result = subprocess.run(
        [sys.executable, "-m", "shared.purge", "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    # then it says so in one line and exits 1, not 2 (a setting to fix)
    assert result.returncode == 1, result.stderr
    assert "could not get a token for storage" in result.stderr and len(result.stderr.strip().splitlines()) == 1
