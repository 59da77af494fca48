"""How the app talks to Table Storage: azure-core's retry policy, timeouts, a connection pool, and a quiet request log.

Every client the app builds comes from `connect_table`, `table_service` or `table_client`, so the store and
the purge share these choices; the measurements behind them are in docs/benchmarks.md and docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any, cast

import requests
import urllib3
from azure.core.exceptions import ResourceExistsError, ServiceResponseError, ServiceResponseTimeoutError
from azure.core.pipeline.transport import HttpRequest, HttpResponse, RequestsTransport
from azure.core.rest import HttpRequest as RestHttpRequest
from azure.core.rest import HttpResponse as RestHttpResponse
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


class _Watchdog:
    """One thread that cuts off the storage responses still arriving when their request's time runs out.

    A read timeout bounds each wait for bytes, not a response that keeps trickling in; shutting the socket
    down ends the read at once, with an error the retry policy sees (and, out of time, gives up on).
    """

    def __init__(self) -> None:
        self._due: dict[int, tuple[float, socket.socket]] = {}
        self._tickets = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, deadline: float, sock: socket.socket | None) -> Iterator[None]:
        if sock is None:  # already read and given back to the pool: nothing left to wait for
            yield
            return
        ticket = next(self._tickets)
        with self._changed:
            earliest = min((due for due, _ in self._due.values()), default=None)
            self._due[ticket] = (deadline, sock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="storage-deadline-watchdog", daemon=True)
                self._thread.start()
            elif earliest is None or deadline < earliest:
                self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._due.pop(ticket, None)

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for ticket, (deadline, sock) in list(self._due.items()):
                    if deadline <= now:
                        del self._due[ticket]
                        with contextlib.suppress(OSError):  # closed meanwhile
                            sock.shutdown(socket.SHUT_RDWR)
                earliest = min((due for due, _ in self._due.values()), default=None)
                self._changed.wait(None if earliest is None else max(0.0, earliest - now))


_WATCHDOG = _Watchdog()

# What a transport's send answers, after the kind of request: azure-core's pipeline response or its `rest` one.
_Sent = HttpResponse | RestHttpResponse


class DeadlineTransport(RequestsTransport):  # type: ignore[misc]  # azure-core makes it in a module __getattr__: Any
    """azure-core's requests transport, each try's timeouts and each backoff cut to the time the deadline leaves.

    azure-core's retry policy caps only the connect timeout by its total timeout, and that total is per call,
    where an HTTP request makes up to five calls; the transport sees every try and every backoff sleep. The body
    of each response is read here under the watchdog, so one that trickles in is cut off at the deadline too.
    """

    def send(self, request: HttpRequest | RestHttpRequest, **kwargs: Any) -> _Sent:
        deadline = _deadline.get()
        if deadline is None or kwargs.get("stream"):
            return cast(_Sent, super().send(request, **kwargs))
        left = deadline - time.monotonic()
        if left <= 0:
            raise ServiceResponseTimeoutError("the request's time for storage ran out")
        kwargs["connection_timeout"] = min(kwargs.get("connection_timeout") or self.connection_config.timeout, left)
        kwargs["read_timeout"] = min(kwargs.get("read_timeout") or self.connection_config.read_timeout, left)
        response = super().send(request, **{**kwargs, "stream": True})  # the status line and headers
        raw = response.internal_response.raw
        with _WATCHDOG.watch(deadline, getattr(raw.connection, "sock", None)):
            try:
                response.internal_response.content  # noqa: B018 - reads and keeps the whole body
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
                response.internal_response.close()
                if time.monotonic() >= deadline:
                    raise ServiceResponseTimeoutError("the storage response did not arrive in the request's time") from error
                raise ServiceResponseError(error, error=error) from error
        if hasattr(response, "read"):
            response.read()  # azure-core's response takes the body requests holds
        return cast(_Sent, response)

    def sleep(self, duration: float) -> None:
        left = _time_left()
        time.sleep(duration if left is None else max(0.0, min(duration, left)))


def connect_table(connection: str, table_name: str, **options: Any) -> TableClient:
    """A client for the table `table_name`, which is created if missing; `options` add to or override the app's."""
    options = {"transport": storage_transport(), **options}  # one connection pool for both clients
    try:
        table_service(connection, **options).create_table(table_name)
    except ResourceExistsError:
        pass
    return table_client(connection, table_name, **options)


def table_service(connection: str, **options: Any) -> TableServiceClient:
    """A client for the account in `connection`, with the app's options (`options` add to or override them)."""
    return TableServiceClient.from_connection_string(connection, **_app_options(options))


def table_client(connection: str, table_name: str, **options: Any) -> TableClient:
    """A client for one table, with the app's options; clients given one `transport` share its connection pool.

    Built on its own rather than by `TableServiceClient.get_table_client`, which wraps the transport in one whose
    `sleep` ignores `DeadlineTransport`'s: retry backoff would then outlast the deadline.
    """
    return TableClient.from_connection_string(connection, table_name, **_app_options(options))


def _app_options(options: dict[str, Any]) -> dict[str, Any]:
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
    adapter = HTTPAdapter(
        pool_maxsize=CONNECTION_POOL_SIZE, max_retries=Retry(total=False, redirect=False, raise_on_status=False)
    )
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return DeadlineTransport(
        session=session,
        session_owner=True,
        connection_timeout=CONNECTION_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        connection_verify=ca_bundle() or True,
    )


def log_requests(enabled: bool) -> None:
    """A line per storage request in this process's log only when `enabled`; failures are logged either way."""
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.NOTSET if enabled else logging.WARNING)
