"""The storage client's configuration: connection pool, environment, request log; against Azurite where it matters."""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.domain.names import JobKey
from shared.storage import client as storage_client

from ..builders import make_job


@pytest.fixture
def key(subscription_id) -> JobKey:
    return JobKey(subscription_id, "Client-RG", f"Job-{uuid.uuid4().hex[:6]}")


@pytest.mark.parametrize("setting,logged", [(False, False), (True, True)])
def test_storage_requests_are_logged_only_when_the_setting_asks(fresh_app, key, caplog, setting, logged):
    # given an app whose IMPORTEXPORT_LOG_STORAGE_REQUESTS is false (the default) or true
    app = fresh_app(settings_update={"log_storage_requests": setting})
    try:
        caplog.set_level(logging.INFO)
        # when its store reads a job
        app.storage.store.get(key)
        # then azure-core's per-request header lines appear only when asked for
        lines = [r for r in caplog.records if r.name == storage_client.REQUEST_LOGGER]
        assert bool(lines) is logged
    finally:
        storage_client.log_requests(False)  # the request log is the process's logger: as the session's app set it


def test_the_store_keeps_a_connection_for_each_of_32_concurrent_calls(job_store, key, caplog):
    # given the app's store and as many concurrent calls as a Python worker runs (32 threads)
    job_store.insert(make_job(key))
    start = threading.Barrier(32)

    def read_a_few_times(_: int) -> list[bool]:
        start.wait()
        return [job_store.get(key) is not None for _ in range(5)]

    # when they all read at once (the pool hands each thread's answer, or its exception, back to this thread)
    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
    with ThreadPoolExecutor(32) as pool:
        found = [each for reads in pool.map(read_a_few_times, range(32)) for each in reads]
    # then every read found the job, and no connection was thrown away for want of room in the pool (requests'
    # default holds 10)
    assert found == [True] * 32 * 5
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


@pytest.mark.parametrize(
    "environ,trusted,verify",
    [
        ({}, False, True),
        ({"HTTPS_PROXY": "http://proxy:3128"}, True, True),
        ({"https_proxy": "http://proxy:3128"}, True, True),
        ({"REQUESTS_CA_BUNDLE": "/etc/ssl/inspecting-ca.pem"}, False, "/etc/ssl/inspecting-ca.pem"),
        ({"CURL_CA_BUNDLE": "/etc/ssl/inspecting-ca.pem"}, False, "/etc/ssl/inspecting-ca.pem"),
        ({"REQUESTS_CA_BUNDLE": ""}, False, True),
    ],
)
def test_the_storage_transport_reads_the_environment_once(monkeypatch, environ, trusted, verify):
    # given an environment with or without a proxy or a CA bundle
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    # when the app's storage transport is built
    transport = storage_client.storage_transport()
    # then requests re-reads the environment per request only for a proxy, and a CA bundle is taken once
    assert transport.session.trust_env is trusted
    assert transport.connection_config.verify == verify
