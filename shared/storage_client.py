"""How the app talks to Table Storage: azure-core's retry policy, timeouts, a connection pool, and a quiet request log.

Every client the app builds comes from `table_service`, so the store and the
purge share these choices; the measurements behind them are in
docs/benchmarks.md and docs/reliability.md.
"""

from __future__ import annotations

import functools
import logging
import os
import urllib.request

import requests
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# azure-core's retry policy: a storage outage answers in seconds, not minutes (with the timeouts below).
CLIENT_OPTIONS = {
    "retry_total": 3,
    "retry_backoff_factor": 0.3,
    "retry_backoff_max": 2,
}
CONNECTION_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
# A Python worker runs up to 32 functions at once (PYTHON_THREADPOOL_THREAD_COUNT). With requests' default
# pool of 10, connections past the tenth are dropped after each request, and each new one costs a handshake.
CONNECTION_POOL_SIZE = 32
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

# azure-core logs every storage request's and response's headers here at INFO: some 25 lines per
# request, a real share of each request's CPU and, in Azure, of the log bill.
REQUEST_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


def table_service(connection: str, **options) -> TableServiceClient:
    """A client for the account in `connection`, with the app's options (`options` add to or override them)."""
    options = {**CLIENT_OPTIONS, **options}
    options.setdefault("transport", storage_transport())
    return TableServiceClient.from_connection_string(connection, **options)


def ca_bundle() -> str | None:
    """The CA bundle the environment names (say, for TLS inspected on the way), as requests would find it."""
    return next((os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)), None)


def storage_transport() -> RequestsTransport:
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
    return RequestsTransport(
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
