"""Fixtures: a real Azurite for the session, the app served over HTTP by the dev host, and a small API client."""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import requests

from devhost.functions import load_app
from devhost.server import DevHost, Keys
from scripts.azurite import ROOT, connection_string, free_port, running_azurite, wait_for_port  # noqa: F401 - tests use these
from shared import jobs, settings, state_machine, store
from shared.clock import SystemClock
from shared.expiry_index import DIRECTORY_PREFIX, ENTRY_PREFIX, ExpiryEntry
from shared.locations import DEFAULT_LOCATIONS_FILE, load_catalogue
from shared.models import Job, JobCreateRequest, JobState
from shared.names import JobKey

API_VERSION = "2021-01-01"
# The repository's own catalogue and the location the tests' jobs are created in ("westus", which has an address).
LOCATIONS = load_catalogue(DEFAULT_LOCATIONS_FILE)
WEST_US = LOCATIONS.get("westus")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow first, otherwise in file order: with parallel workers (pytest.ini's -n and --dist load),
    the long ones start at once, spread over the workers, rather than one of them ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """A Table service of the session's own on a free port, in memory; yields its connection string."""
    with running_azurite() as connection:
        yield connection


@pytest.fixture(scope="session")
def app_settings(azurite: str) -> Iterator[settings.Settings]:
    """Points the app at the session's Azurite and a table of the session's own."""
    values = {
        "IMPORTEXPORT_STORAGE_CONNECTION": azurite,
        "IMPORTEXPORT_TABLE_NAME": "Jobs" + uuid.uuid4().hex[:12],
        "IMPORTEXPORT_RETENTION_DAYS": "90",
        "IMPORTEXPORT_CREATING_EXPIRY_DAYS": "14",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    jobs.reload_settings()
    yield settings.load_settings()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    jobs.reload_settings()


@contextmanager
def app_setting(name: str, value: str) -> Iterator[None]:
    """The app reads `name` as `value` while the block runs (as after a restart with it), then as before."""
    saved = os.environ.get(name)
    os.environ[name] = value
    jobs.reload_settings()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved
        jobs.reload_settings()


@pytest.fixture(scope="session")
def job_store(app_settings: settings.Settings) -> store.JobStore:
    return store.get_store()


def serve(keys: Keys) -> tuple[DevHost, threading.Thread]:
    server = DevHost(load_app(ROOT), ("127.0.0.1", 0), keys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="session")
def devhost(app_settings: settings.Settings) -> Iterator[DevHost]:
    server, thread = serve(Keys())
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


class Api:
    """Requests to the app over HTTP, by the contract's routes."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        # Room for the tests' 32 threads at once.
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64))

    def request(self, method: str, path: str, *, api_version: str | None = API_VERSION, params=None, **kwargs) -> requests.Response:
        query = dict(params or {})
        if api_version is not None:
            query["api-version"] = api_version
        return self.http.request(method, self.base_url + path, params=query, timeout=30, **kwargs)

    @staticmethod
    def job_path(key: JobKey) -> str:
        return key.resource_id

    def put_job(self, key: JobKey, body: dict | None = None, **kwargs) -> requests.Response:
        return self.request("PUT", self.job_path(key), json=job_body() if body is None else body, **kwargs)

    def get_job(self, key: JobKey, **kwargs) -> requests.Response:
        return self.request("GET", self.job_path(key), **kwargs)

    def patch_job(self, key: JobKey, body: dict, **kwargs) -> requests.Response:
        return self.request("PATCH", self.job_path(key), json=body, **kwargs)

    def cancel_job(self, key: JobKey, **kwargs) -> requests.Response:
        return self.patch_job(key, {"properties": {"cancelRequested": True}}, **kwargs)

    def delete_job(self, key: JobKey, **kwargs) -> requests.Response:
        return self.request("DELETE", self.job_path(key), **kwargs)

    def move_job(self, key: JobKey, state: str, at: str | None = None, **kwargs) -> requests.Response:
        body = {"state": state} if at is None else {"state": state, "at": at}
        path = f"/operator/subscriptions/{key.subscription_id}/resourceGroups/{key.resource_group}/jobs/{key.job_name}/state"
        return self.request("POST", path, json=body, **kwargs)

    def list_jobs(
        self, subscription_id: str, resource_group: str | None = None, *, api_version: str = API_VERSION, **params
    ) -> requests.Response:
        group = f"/resourceGroups/{resource_group}" if resource_group else ""
        path = f"/subscriptions/{subscription_id}{group}/providers/Microsoft.ImportExport/jobs"
        return self.request("GET", path, params=params, api_version=api_version)


@pytest.fixture(scope="session")
def api(devhost: DevHost) -> Api:
    return Api(devhost.base_url)


def job_body(**properties) -> dict:
    return {
        "location": "westus",
        "tags": {"team": "data"},
        "properties": {
            "storageAccountId": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
            "jobType": "Import",
            "diagnosticsPath": "waimportexport",
            "logLevel": "Error",
            **properties,
        },
    }


def make_job(key: JobKey, **properties) -> Job:
    """A new job as the state machine makes it from a create request, not yet stored."""
    return state_machine.new_job(
        key, JobCreateRequest.model_validate(job_body(**properties)), SystemClock().now(), location=WEST_US
    )


RETURN_ADDRESS = {
    "recipientName": "Ada Lovelace",
    "streetAddress1": "1 Analytical Way",
    "city": "Redmond",
    "stateOrProvince": "WA",
    "postalCode": "98052",
    "countryOrRegion": "USA",
    "phone": "4250000000",
    "email": "ada@example.com",
}
DELIVERY_PACKAGE = {"carrierName": "FedEx", "trackingNumber": "123456789", "driveCount": 1, "shipDate": "2026-11-20"}


def shippable_body() -> dict:
    return job_body(returnAddress=RETURN_ADDRESS, deliveryPackage=DELIVERY_PACKAGE)


@pytest.fixture
def subscription_id() -> str:
    """A subscription of the test's own, so tests never see each other's jobs."""
    return str(uuid.uuid4())


_names = itertools.count(1)


@pytest.fixture
def new_key(subscription_id: str) -> Callable[[], JobKey]:
    return lambda resource_group="rg-test": JobKey(subscription_id, resource_group, f"job-{next(_names)}")


# The operator moves that take a shipped job to each state (the contract's happy paths).
OPERATOR_PATHS: dict[JobState, list[JobState]] = {
    JobState.CREATING: [],
    JobState.SHIPPING: [],
    JobState.RECEIVED: [JobState.RECEIVED],
    JobState.TRANSFERRING: [JobState.RECEIVED, JobState.TRANSFERRING],
    JobState.PACKAGING: [JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING],
    JobState.COMPLETED: [JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING, JobState.COMPLETED],
    JobState.CLOSED: [JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING, JobState.CLOSED],
}


@pytest.fixture
def job_in_state(api: Api, new_key) -> Callable[..., JobKey]:
    """Makes a job in the given state through the API and returns its key."""

    def make(state: JobState, cancel_requested: bool = False) -> JobKey:
        key = new_key()
        assert api.put_job(key, shippable_body()).status_code == 201
        if state != JobState.CREATING:
            assert api.patch_job(key, {"properties": {"state": "Shipping"}}).status_code == 200
        path = OPERATOR_PATHS[state]
        if cancel_requested:
            assert state not in (JobState.CREATING, JobState.CLOSED), "a cancelled job is never in that state"
        if cancel_requested and state in (JobState.PACKAGING, JobState.COMPLETED):
            # cancelled while shipping, so the datacenter skips the copy
            path = [step for step in path if step != JobState.TRANSFERRING]
            assert api.cancel_job(key).status_code == 200
        for step in path:
            response = api.move_job(key, step)
            assert response.status_code == 200, response.text
        if cancel_requested and state in (JobState.SHIPPING, JobState.RECEIVED, JobState.TRANSFERRING):
            assert api.cancel_job(key).status_code == 200
        assert api.get_job(key).json()["properties"]["state"] == state
        return key

    return make


WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "MERGE", "DELETE"})


class InjectedCrash(Exception):
    """The process "died" here: no storage error, so nothing in the app catches it and nothing after it runs."""


class BeforeWrite:
    """An azure-core `raw_request_hook` that does something just before the store's n-th storage write."""

    def __init__(self, at_write: int, action: Callable[[], None]) -> None:
        self.at_write = at_write
        self.action = action
        self.writes = 0
        self.armed = False  # armed once the store is set up, so table creation does not count

    def __call__(self, request) -> None:
        if self.armed and request.http_request.method in WRITE_METHODS:
            self.writes += 1
            if self.writes == self.at_write:
                self.action()


class CrashBeforeRequest:
    """Fault injection: the process "dies" just before its n-th storage request, read or write."""

    def __init__(self, at_request: int) -> None:
        self.at_request = at_request
        self.requests = 0
        self.armed = False

    def __call__(self, request) -> None:
        if self.armed:
            self.requests += 1
            if self.requests == self.at_request:
                raise InjectedCrash(f"injected crash before storage request {self.requests}")


def index_problems(job_store: store.JobStore, *, with_directory: bool = True) -> list[str]:
    """Where the store's jobs and expiry index disagree: a job without its entry, an entry without its job (as it
    is now), or (`with_directory`) an entry whose day the expiry directory does not list. Empty when they agree."""
    jobs, entries, directory = {}, {}, set()
    for entity in job_store.table.list_entities():
        partition, row = entity["PartitionKey"], entity["RowKey"]
        if partition.startswith(DIRECTORY_PREFIX):
            clock, quarter = partition[len(DIRECTORY_PREFIX) :].split("|")
            year = quarter.split("-")[0]
            directory |= {(clock, row, f"{year}-{name[1:3]}-{name[3:5]}") for name, value in entity.items() if name[:1] == "D" and value}
        elif row.startswith(ENTRY_PREFIX):
            entries[partition, row] = ExpiryEntry.from_entity(entity)
        else:
            jobs[partition, row] = store.stored_job(entity)
    problems = []
    for (partition, row), stored in jobs.items():
        expected = ExpiryEntry.for_job(stored.job)
        if expected is not None and (partition, expected.row_key) not in entries:
            problems.append(f"job {row} ({stored.job.state}) has no entry")
    for (partition, row), entry in entries.items():
        stored = jobs.get((partition, entry.job_row_key))
        expected = ExpiryEntry.for_job(stored.job) if stored is not None else None
        if expected is None or expected.row_key != row:
            problems.append(f"entry {row} has no job that it describes")
        if with_directory and (entry.clock.value, partition, entry.day.isoformat()) not in directory:
            problems.append(f"entry {row}: its day is not in the directory")
    return problems


def expiry_entries(job_store: store.JobStore) -> list[dict]:
    """The expiry entries in the store's table."""
    return [
        entity
        for entity in job_store.table.list_entities()
        if entity["RowKey"].startswith(ENTRY_PREFIX) and not entity["PartitionKey"].startswith(DIRECTORY_PREFIX)
    ]


class CrashBeforeWrite(BeforeWrite):
    """Fault injection: the process "dies" just before its n-th storage write."""

    def __init__(self, at_write: int) -> None:
        super().__init__(at_write, self._crash)

    def _crash(self) -> None:
        raise InjectedCrash(f"injected crash before storage write {self.writes}")


@pytest.fixture
def fresh_store(azurite: str, app_settings: settings.Settings) -> Callable[..., store.JobStore]:
    """Stores over tables of the test's own, so a purge sees only the test's jobs; extra client options allowed.

    The app's settings are in place too: the services built over these stores read the locations from them.
    """
    table_name = "Purge" + uuid.uuid4().hex[:12]

    def make(**client_options) -> store.JobStore:
        return store.JobStore.connect(azurite, table_name, **client_options)

    return make


# The provider's operations, as its published example lists them.
PROVIDER_OPERATIONS = [
    "Microsoft.ImportExport/locations/read",
    "Microsoft.ImportExport/jobs/write",
    "Microsoft.ImportExport/jobs/read",
    "Microsoft.ImportExport/jobs/listBitLockerKeys/action",
    "Microsoft.ImportExport/jobs/delete",
    "Microsoft.ImportExport/register/action",
]
