"""How the app talks to Table Storage: azure-core's retry policy, timeouts, a connection pool, and a quiet request log.

Every client the app builds comes from `table_service` or `table_client`, so the store and the
purge share these choices; the measurements behind them are in
docs/benchmarks.md and docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import time
import urllib.request
from collections.abc import Iterator

import requests
from azure.core.exceptions import ServiceResponseTimeoutError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# azure-core's retry policy: a storage outage answers in seconds, not minutes (with the timeouts below).
CLIENT_OPTIONS = {
    "retry_total": 3,
    "retry_backoff_factor": 0.3,
    "retry_backoff_max": 2,
}
CONNECTION_TIMEOUT_SECONDS = 3
# Per try: a point operation answers in milliseconds, so a try that has heard nothing for this long is retried.
READ_TIMEOUT_SECONDS = 4
# The purge's index scans may read a thousand entities a page; they are nobody's HTTP request, so they can wait longer.
SCAN_READ_TIMEOUT_SECONDS = 10
# All the storage calls of one HTTP request, tries and backoff included, end within this; then the caller
# gets a 503 with Retry-After while it can still act on it (an ARM client waits far longer, but people do not).
REQUEST_STORAGE_BUDGET_SECONDS = 8
# A Python worker runs up to 32 functions at once (PYTHON_THREADPOOL_THREAD_COUNT). With requests' default
# pool of 10, connections past the tenth are dropped after each request, and each new one costs a handshake.
CONNECTION_POOL_SIZE = 32
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

# azure-core logs every storage request's and response's headers here at INFO: some 25 lines per
# request, a real share of each request's CPU and, in Azure, of the log bill.
REQUEST_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("storage_deadline", default=None)


@contextlib.contextmanager
def storage_deadline(seconds: float = REQUEST_STORAGE_BUDGET_SECONDS) -> Iterator[None]:
    """Every storage call made inside this block, retries and backoff included, ends within `seconds` of its start."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _time_left() -> float | None:
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


class DeadlineTransport(RequestsTransport):
    """azure-core's requests transport, each try's timeouts and each backoff cut to the time the deadline leaves.

    azure-core's retry policy caps only the connect timeout by its total timeout, and that total is per call,
    where an HTTP request makes up to five calls; the transport sees every try and every backoff sleep.
    """

    def send(self, request, **kwargs):
        left = _time_left()
        if left is not None:
            if left <= 0:
                raise ServiceResponseTimeoutError("the request's time for storage ran out")
            kwargs["connection_timeout"] = min(kwargs.get("connection_timeout") or self.connection_config.timeout, left)
            kwargs["read_timeout"] = min(kwargs.get("read_timeout") or self.connection_config.read_timeout, left)
        return super().send(request, **kwargs)

    def sleep(self, duration: float) -> None:
        left = _time_left()
        time.sleep(duration if left is None else max(0.0, min(duration, left)))


def table_service(connection: str, **options) -> TableServiceClient:
    """A client for the account in `connection`, with the app's options (`options` add to or override them)."""
    return TableServiceClient.from_connection_string(connection, **_app_options(options))


def table_client(connection: str, table_name: str, **options) -> TableClient:
    """A client for one table, with the app's options; clients given one `transport` share its connection pool.

    Built on its own rather than by `TableServiceClient.get_table_client`, which wraps the transport in one whose
    `sleep` ignores `DeadlineTransport`'s: retry backoff would then outlast the deadline.
    """
    return TableClient.from_connection_string(connection, table_name, **_app_options(options))


def _app_options(options: dict) -> dict:
    options = {**CLIENT_OPTIONS, **options}
    options.setdefault("transport", storage_transport())
    return options


def ca_bundle() -> str | None:
    """The CA bundle the environment names (say, for TLS inspected on the way), as requests would find it."""
    return next((os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)), None)


def storage_transport() -> DeadlineTransport:
    """azure-core's requests transport, with a pool for the worker's concurrency and the environment read once."""
    session = requests.Session()
    # Trusting the environment makes requests re-read the proxy variables, the CA variables and ~/.netrc on
    # every request (a scan of os.environ and two stat calls). The CA bundle is read here, once; the trust
    # stays on only for a proxy, whose NO_PROXY rules apply host by host.
    session.trust_env = bool(urllib.request.getproxies())
    # azure-core's retry policy does the retrying; the adapter must not retry underneath it.
    adapter = HTTPAdapter(pool_maxsize=CONNECTION_POOL_SIZE, max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return DeadlineTransport(
        session=session,
        session_owner=True,
        connection_timeout=CONNECTION_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        connection_verify=ca_bundle() or True,
    )


@functools.cache
def log_requests(enabled: bool) -> None:
    """Failures are logged either way; a line per request only when the setting asks for it."""
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.NOTSET if enabled else logging.WARNING)
