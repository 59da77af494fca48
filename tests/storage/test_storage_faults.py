"""Storage faults: an outage answers 503 with Retry-After and loses nothing; throttling is retried by azure-core."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ServiceResponseError

import get_job
from scripts.azurite import AzuriteTable, connection_string
from scripts.devhost_process import DevHostProcess
from scripts.storage_proxy import StorageProxy
from shared.app import app_in_use, open_app
from shared.domain.errors import InvalidSkipToken, PreconditionFailed
from shared.domain.jobs import Preconditions
from shared.domain.names import JobKey, Scope
from shared.storage import client as storage_client

from ..builders import shippable_body, shippable_request, update_request
from ..harness import Api, another_process, function_request, index_problems, serving_app

SUBSCRIPTION = "00000000-0000-0000-0000-00000000fa17"
# azure-core's policy as configured in shared.storage.client: 3 retries with backoff, 3 s to connect, 4 s to read.
ANSWER_BOUND_SECONDS = 20
AZURITE_SAVE_SECONDS = 6


@pytest.fixture
def outage(tmp_path):
    """An Azurite kept on disk, and the app served against it by `python -m devhost` in its own process."""
    azurite = AzuriteTable(location=tmp_path / "azurite")
    with azurite, DevHostProcess(azurite.connection_string, "FaultJobs") as host:
        yield azurite, Api(f"http://127.0.0.1:{host.port}")


@pytest.mark.slow
@pytest.mark.azurite  # starts its own, to stop it
@pytest.mark.usefixtures("machine_to_itself")
def test_an_outage_mid_traffic_answers_503_and_loses_nothing(outage):
    azurite, api = outage
    keys = [JobKey(SUBSCRIPTION, "rg", f"job-{i}") for i in range(12)]
    for key in keys:
        assert api.put_job(key, shippable_body()).status_code == 201
    # Azurite's on-disk store saves every 5 s: let the jobs reach the disk, as Azure storage would at once
    time.sleep(AZURITE_SAVE_SECONDS)
    answers: list[tuple[int, float, requests.Response]] = []
    stop = threading.Event()

    def traffic(seed: int) -> None:
        step = seed
        while not stop.is_set():
            key = keys[step % len(keys)]
            started = time.monotonic()
            response = [
                lambda key, step: api.get_job(key),
                lambda key, step: api.patch_job(key, {"tags": {"step": str(step)}}),
                lambda key, step: api.patch_job(key, {"properties": {"state": "Shipping"}}),
                lambda key, step: api.list_jobs(SUBSCRIPTION, "rg"),
                lambda key, step: api.cancel_job(key),
            ][step % 5](key, step)
            answers.append((response.status_code, time.monotonic() - started, response))
            step += 7

    # given traffic from 8 clients
    workers = [threading.Thread(target=traffic, args=(seed,)) for seed in range(8)]
    for worker in workers:
        worker.start()
    time.sleep(1)
    # when storage goes away for a while, then comes back
    azurite.stop()
    time.sleep(4)
    during = len(answers)
    azurite.start()
    time.sleep(2)
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    # then every answer was the contract's or a 503 that says when to retry, and none took too long
    statuses = {status for status, _, _ in answers}
    unexpected = [
        (status, response.request.method, response.request.url[-60:], response.text[:200])
        for status, _, response in answers
        if status not in (200, 400, 409, 503)
    ]
    assert statuses <= {200, 400, 409, 503}, unexpected[:5]
    assert 503 in statuses
    for status, seconds, response in answers:
        assert seconds < ANSWER_BOUND_SECONDS
        if status == 503:
            assert response.headers["Retry-After"] == "5"
            assert response.json()["error"]["code"] == "ServiceUnavailable"
    # and after the restart everything works and each job is whole, with the index in step
    assert during < len(answers)
    table = storage_client.connect_table(azurite.connection_string, "FaultJobs")
    for key in keys:
        response = api.get_job(key)
        assert response.status_code == 200
    # (Azurite drops what it acknowledged in the 5 s before it stopped, a directory row among them, where the app's
    # process remembers it wrote it; Azure keeps every acknowledged write. Jobs and entries, written together, agree.)
    assert index_problems(table, with_directory=False) == []
    assert api.patch_job(keys[0], {"tags": {"after": "outage"}}).status_code == 200
    print(
        f"\noutage: {len(answers)} requests, {sum(1 for s, _, _ in answers if s == 503)} answered 503, "
        f"slowest {max(seconds for _, seconds, _ in answers):.1f} s"
    )


@pytest.fixture
def proxied(azurite, app_settings):
    """An app that reaches Azurite through the fault-injecting proxy, its table made and its storage connected."""
    port = int(azurite.split("TableEndpoint=http://127.0.0.1:")[1].split("/")[0])
    proxy = StorageProxy(port)
    settings = app_settings.model_copy(
        update={"storage_connection": connection_string(proxy.port), "table_name": "Proxy" + uuid.uuid4().hex[:10]}
    )
    with open_app(settings) as app:
        app.storage  # noqa: B018 - connects: the table is made before the proxy's faults begin
        yield proxy, app
    proxy.close()


@pytest.mark.parametrize("fault", ["ServerBusy", "OperationTimedOut"])
def test_throttling_is_retried_by_the_azure_core_policy(proxied, fault):
    proxy, app = proxied
    service = app.jobs
    key = JobKey(SUBSCRIPTION, "rg", f"throttled-{fault}")
    # when storage throttles the next two requests
    proxy.fail_next(2, fault)
    result = service.create_job(key, shippable_request(), Preconditions())
    stored, created = result.stored, result.created
    # then the policy retried them and the job was created once
    assert created
    status = 503 if fault == "ServerBusy" else 500
    assert sum(count for (_, answer), count in proxy.seen.items() if answer == status) == 2
    assert service.get_job(key).etag == stored.etag


def test_a_412_is_not_retried(proxied):
    proxy, app = proxied
    service, store = app.jobs, app.storage.store
    key = JobKey(SUBSCRIPTION, "rg", "precondition")
    stale = service.create_job(key, shippable_request(), Preconditions()).stored.etag
    service.update_job(key, update_request({"tags": {"v": "2"}}), Preconditions())
    proxy.fail_next(0)
    with pytest.raises(PreconditionFailed):
        service.update_job(key, update_request({"tags": {"v": "3"}}), Preconditions(if_match=stale))
    # the stale If-Match is caught on the read: no write was even sent
    assert all(method == "GET" for method, _ in proxy.seen)
    # and storage's own 412 (a race lost at the write) reaches the code once, not retried by the policy
    current = store.get(key)
    store.replace(current.job.model_copy(update={"tags": {"v": "4"}}), current)
    proxy.fail_next(0)
    with pytest.raises(ResourceModifiedError):
        store.replace(current.job.model_copy(update={"tags": {"v": "5"}}), current)
    # (a write is one transaction: its 412 comes inside the batch's 202)
    assert proxy.seen[("POST", 202)] == 1


def test_a_continuation_storage_refuses_is_an_invalid_skip_token(proxied):
    # given a listing with a next page, and its token
    proxy, app = proxied
    service = app.jobs
    for name in ("a", "b"):
        service.create_job(JobKey(SUBSCRIPTION, "paged", name), shippable_request(), Preconditions())
    token = service.list_jobs(Scope(SUBSCRIPTION, "paged"), 1, None).next_skip_token
    assert token is not None
    # when storage refuses the continuation in it, as Azure refuses one it never gave out
    proxy.fail_next(1, "InvalidInput")
    # then the caller is told the token is not one of ours (400), not that the service failed
    with pytest.raises(InvalidSkipToken):
        service.list_jobs(Scope(SUBSCRIPTION, "paged"), 1, token)


def test_a_request_storage_refuses_without_a_continuation_is_not_blamed_on_a_token(proxied):
    proxy, app = proxied
    proxy.fail_next(1, "InvalidInput")
    with pytest.raises(HttpResponseError) as raised:
        app.jobs.list_jobs(Scope(SUBSCRIPTION, "paged"), 1, None)
    assert not isinstance(raised.value, InvalidSkipToken) and raised.value.status_code == 400


def test_endless_throttling_answers_503_in_bounded_time(proxied):
    # given the get_job function, its storage throttling every request
    proxy, app = proxied
    proxy.fail_next(1000)
    # when a job is read
    started = time.monotonic()
    request = function_request(route={"subscriptionId": SUBSCRIPTION, "resourceGroupName": "rg", "jobName": "j"})
    with app_in_use(app):
        response = get_job.main(request)
    # then azure-core tried four times and the caller got a 503 in bounded time
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert time.monotonic() - started < ANSWER_BOUND_SECONDS
    assert proxy.seen[("GET", 503)] == 4  # the first try and azure-core's 3 retries


@pytest.fixture
def silent_storage():
    """A "storage service" that takes connections and never says a word; yields its connection string and the sockets."""
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # closed at the end of the test
            while True:
                held.append(silent.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield connection_string(silent.getsockname()[1]), held
    silent.close()
    for connection in held:
        connection.close()


@pytest.fixture
def trickling_storage():
    """A "storage service" that answers every request with headers at once, then its body a byte every 0.5 s."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            while not stop.wait(0.5):
                connection.sendall(b" ")

    def accept() -> None:
        with contextlib.suppress(OSError):  # closed at the end of the test
            while True:
                threading.Thread(target=answer, args=(server.accept()[0],), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield connection_string(server.getsockname()[1])
    stop.set()
    server.close()


@pytest.fixture(params=["silent", "trickling"])
def hanging_storage(request) -> str:
    """Storage that never finishes an answer: silent after accepting, or sending a byte now and then."""
    if request.param == "silent":
        return request.getfixturevalue("silent_storage")[0]
    return request.getfixturevalue("trickling_storage")


@pytest.mark.slow
def test_storage_that_never_answers_gets_a_503_within_ten_seconds_at_production_settings(hanging_storage, app_settings):
    # given the get_job function over storage that never finishes an answer (its tables made), with the
    # production timeouts: a GET is retried, so without a deadline it would take 4 tries x 4 s and backoff,
    # and a body that trickles in would never time out at all
    connection = hanging_storage
    table = storage_client.table_client(connection, "Silent")
    request = function_request(route={"subscriptionId": SUBSCRIPTION, "resourceGroupName": "rg", "jobName": "j"})
    # when a job is read
    started = time.monotonic()
    with serving_app(app_settings.model_copy(update={"storage_connection": connection}), table=table):
        response = get_job.main(request)
    elapsed = time.monotonic() - started
    # then the caller gets a 503 with Retry-After when the request's storage budget (8 s) runs out, within 10 s
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert storage_client.REQUEST_STORAGE_BUDGET_SECONDS <= elapsed < 10


@pytest.mark.slow
def test_without_a_request_deadline_a_silent_storage_fails_after_the_tries(silent_storage, monkeypatch):
    # given a store on silent storage outside any HTTP request (as the purge runs), with a short read timeout
    connection, held = silent_storage
    monkeypatch.setattr(storage_client, "READ_TIMEOUT_SECONDS", 0.3)
    store = another_process(storage_client.table_client(connection, "Silent"))
    # when a job is read
    started = time.monotonic()
    with pytest.raises(ServiceResponseError):
        store.get(JobKey(SUBSCRIPTION, "rg", "silent"))
    # then it gave up with a timeout error after azure-core's four tries, each on a new connection
    assert len(held) == 4
    assert time.monotonic() - started < 10
