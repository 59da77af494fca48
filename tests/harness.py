"""The tests' machinery: an API client, the dev host on a thread, an app of a test's own served for a block, fault
injection into the store's storage requests, and the check that jobs and their expiry index agree."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import azure.functions as func
import requests
from azure.data.tables import TableClient

from devhost.functions import FunctionApp, load_app
from devhost.server import DevHost, Keys
from scripts.azurite import ROOT
from shared.app import App, Storage, app_in_use, open_app
from shared.domain.clock import FixedClock
from shared.domain.names import JobKey
from shared.ops.cancels import CancelCompletions, CompletionReport
from shared.ops.purge import Purge, PurgeReport
from shared.settings import Settings
from shared.storage.directory import DIRECTORY_PREFIX, ExpiryDirectory
from shared.storage.entities import stored_job
from shared.storage.expiry_index import ENTRY_PREFIX, ExpiryEntry
from shared.storage.job_table import TableJobStore

from .builders import API_VERSION, RETENTION, job_body, jobs_over

# --- the API over HTTP ---


class Api:
    """Requests to the app over HTTP, by the contract's routes."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        # Room for the tests' 32 threads at once.
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64))

    def request(
        self, method: str, path: str, *, api_version: str | None = API_VERSION, params=None, **kwargs
    ) -> requests.Response:
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


def error_of(response: requests.Response) -> dict:
    """The ARM error of an answer: `{"error": {"code", "message", ...}}` with a JSON content type."""
    assert response.headers["Content-Type"].startswith("application/json"), response.headers["Content-Type"]
    return response.json()["error"]


def assert_arm_error(response: requests.Response, status: int, code: str | None = None) -> dict:
    """The answer is `status` with an ARM error body (of `code`, when given) and no stack trace; returns the error."""
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] and error["message"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    if code:
        assert error["code"] == code, error
    return error


def app_without_local_settings(folder: Path) -> Path:
    """A copy of the app's `shared` package in `folder`, which has no local.settings.json: a command run there
    (`python -m shared.purge`) reads only the environment, whatever the checkout's own file says (make run writes one)."""
    shutil.copytree(ROOT / "shared", folder / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


# --- a function called in this process ---

JOB_ROUTE = {"subscriptionId": "00000000-0000-0000-0000-000000000001", "resourceGroupName": "rg", "jobName": "job"}


def function_request(method="GET", route=JOB_ROUTE, body=b"", headers=None, params=None) -> func.HttpRequest:
    """A request as the host hands it to a function's `main`: api-version 2021-01-01 unless `params` says otherwise."""
    return func.HttpRequest(
        method=method,
        url="http://localhost/x",
        headers=headers or {},
        params={"api-version": "2021-01-01", **(params or {})},
        route_params=route,
        body=body,
    )


# --- the dev host, in this process ---


@contextmanager
def serving(app: FunctionApp | None = None, keys: Keys | None = None, address: str = "127.0.0.1", **options) -> Iterator[DevHost]:
    """A dev host serving `app` (this repository's by default) on a free port of `address`, on a thread of its own,
    while the block runs; then shut down and closed. `options` go to `DevHost` (read_timeout)."""
    server = DevHost(load_app(ROOT) if app is None else app, (address, 0), keys or Keys(), **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def serving_app(settings: Settings, **options) -> Iterator[App]:
    """An app built from `settings` (`open_app`'s options), served by the functions (`current_app`) while the block
    runs, as after a restart with those settings; then the app served before it again."""
    with open_app(settings, **options) as app, app_in_use(app):
        yield app


# --- the purge, as of a time ---


def purge_at(storage: Storage, as_of: datetime, **options) -> PurgeReport:
    """A purge of `storage`'s table as of `as_of`, by the contract's default retention (`builders.RETENTION`), with a
    budget of five minutes unless `budget` says otherwise; other `options` go to `Purge`."""
    budget = options.pop("budget", timedelta(minutes=5))
    return Purge(storage.index, storage.directory, RETENTION, FixedClock(as_of), budget, **options).run()


def complete_cancels_at(storage: Storage, as_of: datetime, **options) -> CompletionReport:
    """A run of the cancel completion over `storage`'s table, the service's clock at `as_of`; `options` go to
    `CancelCompletions` (its directory settle, say)."""
    return CancelCompletions(storage.index, storage.directory, jobs_over(storage.store, FixedClock(as_of)), **options).run()


def surviving(storage: Storage, keys) -> set[JobKey]:
    """The keys whose jobs are still in `storage`."""
    return {key for key in keys if storage.store.get(key) is not None}


# --- stores and indexes of the tests' own ---


class PassThrough:
    """Stands in for the object it wraps (a store, the purge's index), which answers everything the wrapper does not
    redefine: a test's substitute through the interface, with the real thing behind it."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def another_process(table: TableClient) -> TableJobStore:
    """A store over `table` as another process has it: a directory of its own, which remembers no day it wrote."""
    return TableJobStore(table, ExpiryDirectory(table))


# --- raw HTTP with a dev host, and `python -m devhost` run to its end ---

# A dev host of the tests' own apps gives up on a silent connection after this (the production default is 30 s).
READ_TIMEOUT = 1  # second


def hosting(app, address: str = "127.0.0.1"):
    """A dev host serving `app` on a free port of `address` (short read timeout) while the block runs."""
    return serving(app, address=address, read_timeout=READ_TIMEOUT)


def connect(server: DevHost) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10)
    return connection


def read_response(stream, head: bool = False) -> tuple[int, dict[str, str], bytes] | None:
    """One HTTP response from a raw connection's stream; None when the server closed the connection instead."""
    status_line = stream.readline()
    if not status_line:
        return None
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head else int(headers.get("content-length", 0))
    return int(status_line.split()[1]), headers, stream.read(length)


def exchange(server: DevHost, data: bytes, responses: int = 1, head: bool = False) -> list:
    """Sends raw bytes on a new connection; the responses read back, then None if the server closed it."""
    with connect(server) as connection, connection.makefile("rb") as stream:
        connection.sendall(data)
        answers = [read_response(stream, head) for _ in range(responses)]
        if answers[-1] is not None and answers[-1][1].get("connection") == "close":
            answers.append(read_response(stream))
        return answers


def assert_dev_host_error(answer, status: int) -> dict:
    """The answer is the dev host's own error: `status`, a JSON ARM error body, never HTML."""
    got_status, headers, body = answer
    assert got_status == status, (got_status, body[:200])
    assert headers["content-type"].startswith("application/json")
    assert b"<html" not in body.lower() and b"Traceback" not in body
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"} and error["code"] and error["message"]
    return error


def start_devhost(root, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m devhost` on an app folder, run until it exits (these tests expect it to refuse to start)."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("DEVHOST_")}
    command = [sys.executable, "-m", "devhost", "--root", str(root), *args]
    return subprocess.run(command, cwd=ROOT, env={**environment, **(env or {})}, capture_output=True, text=True, timeout=30)


def app_folder(tmp_path, local_settings: str | None = None):
    """An app folder with no functions: all the dev host needs to start."""
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    if local_settings is not None:
        (tmp_path / "local.settings.json").write_text(local_settings)
    return tmp_path


def assert_one_line_refusal(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- fault injection: azure-core raw_request_hooks ---

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


class CrashBeforeWrite(BeforeWrite):
    """Fault injection: the process "dies" just before its n-th storage write."""

    def __init__(self, at_write: int) -> None:
        super().__init__(at_write, self.crash)

    def crash(self) -> None:
        raise InjectedCrash(f"injected crash before storage write {self.writes}")


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


# --- the store's index, checked ---


def index_problems(table: TableClient, *, with_directory: bool = True) -> list[str]:
    """Where the jobs in `table` and their expiry index disagree: a job without its entry, an entry without its job (as it
    is now), or (`with_directory`) an entry whose day the expiry directory does not list. Empty when they agree."""
    stored_jobs, entries, directory = {}, {}, set()
    for entity in table.list_entities():
        partition, row = entity["PartitionKey"], entity["RowKey"]
        if partition.startswith(DIRECTORY_PREFIX):
            kind, quarter = partition[len(DIRECTORY_PREFIX) :].split("|")
            year = quarter.split("-")[0]
            directory |= {
                (kind, row, f"{year}-{name[1:3]}-{name[3:5]}") for name, value in entity.items() if name[:1] == "D" and value
            }
        elif row.startswith(ENTRY_PREFIX):
            entries[partition, row] = ExpiryEntry.from_entity(entity)
        else:
            stored_jobs[partition, row] = stored_job(entity)
    problems = []
    for (partition, row), stored in stored_jobs.items():
        expected = ExpiryEntry.for_job(stored.job)
        if expected is not None and (partition, expected.row_key) not in entries:
            problems.append(f"job {row} ({stored.job.state}) has no entry")
    for (partition, row), entry in entries.items():
        stored = stored_jobs.get((partition, entry.job_row_key))
        expected = ExpiryEntry.for_job(stored.job) if stored is not None else None
        if expected is None or expected.row_key != row:
            problems.append(f"entry {row} has no job that it describes")
        if with_directory and (entry.kind.value, partition, entry.day.isoformat()) not in directory:
            problems.append(f"entry {row}: its day is not in the directory")
    return problems


def expiry_entries(table: TableClient) -> list[dict]:
    """The expiry entries in `table`."""
    return [
        entity
        for entity in table.list_entities()
        if entity["RowKey"].startswith(ENTRY_PREFIX) and not entity["PartitionKey"].startswith(DIRECTORY_PREFIX)
    ]
