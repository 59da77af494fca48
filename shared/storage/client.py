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
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

import requests
import urllib3
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpRequest, HttpResponse, RequestsTransport
from azure.core.rest import HttpRequest as RestHttpRequest
from azure.core.rest import HttpResponse as RestHttpResponse
from azure.data.tables import TableClient, TableServiceClient
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .credentials import Account
from .credentials import account_by_identity as account_by_identity

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
IDENTITY_LOGGER = "azure.identity"


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


# A role scoped to the jobs table alone (least privilege) may not create tables: storage refuses with this code, and
# the table, which whoever granted the role made, is there.
NOT_ALLOWED_TO_CREATE = "AuthorizationPermissionMismatch"


class TableMissing(Exception):
    """The table a command that writes nothing (a dry run) was pointed at does not exist: it is not created."""

    def __init__(self, table_name: str) -> None:
        super().__init__(f"the table '{table_name}' does not exist")
        self.table_name = table_name


def connect_table(account: Account, table_name: str, *, create: bool = True, **options: Any) -> TableClient:
    """A client for the table `table_name`, which is created if missing (with `create`; without it, a missing table is
    `TableMissing` and nothing is written); `options` add to or override the app's."""
    options = {"transport": storage_transport(), **options}  # one connection pool for both clients
    if not create:
        table = table_client(account, table_name, **options)
        try:  # one read says whether the table is there
            next(iter(table.query_entities("PartitionKey eq ''", results_per_page=1)), None)
        except ResourceNotFoundError:
            table.close()
            raise TableMissing(table_name) from None
        return table
    try:
        table_service(account, **options).create_table(table_name)
    except ResourceExistsError:
        pass
    except HttpResponseError as error:
        if storage_error_code(error) != NOT_ALLOWED_TO_CREATE:
            raise
        table = table_client(account, table_name, **options)
        try:  # one read says whether the table is there; a missing one is the refusal's fault, not a 404 per request
            next(iter(table.query_entities("PartitionKey eq ''", results_per_page=1)), None)
        except ResourceNotFoundError:
            raise error from None
        return table
    return table_client(account, table_name, **options)


def storage_error_code(error: HttpResponseError) -> str | None:
    """The storage service's error code (`AuthenticationFailed`, say), as azure-data-tables read it, if it did."""
    code = getattr(error, "error_code", None)
    return None if code is None else str(getattr(code, "value", code))


class FailureKind(Enum):
    """Why a storage call failed, as what to do about it."""

    REFUSED_CREDENTIALS = "refused credentials"  # a wrong key, or an identity without its role: fix a setting
    NO_TOKEN = "no token"  # the identity could not get a token (no identity, its endpoint down)
    REFUSED_REQUEST = "refused request"  # storage answered 4xx to a request it could read
    UNAVAILABLE = "unavailable"  # no answer, or a 5xx: wait and retry


@dataclass(frozen=True)
class StorageFailure:
    """A storage failure, in words for a log line (never a secret), and its kind."""

    kind: FailureKind
    text: str


def storage_failure(error: AzureError) -> StorageFailure:
    """What went wrong with storage, in one line that says what to check."""
    status = error.status_code if isinstance(error, HttpResponseError) else None
    # Storage's own refusals carry its error code (azure-data-tables reads it); a credential's failures do not.
    answered_by_storage = isinstance(error, HttpResponseError) and storage_error_code(error) is not None
    if isinstance(error, HttpResponseError) and (
        status in (401, 403) or answered_by_storage and isinstance(error, ClientAuthenticationError)
    ):
        return StorageFailure(
            FailureKind.REFUSED_CREDENTIALS,
            f"the storage service refused the app's credentials ({status} {storage_error_code(error) or 'no error code'}); "
            "check the connection string's account key, or that the identity has Storage Table Data Contributor on the table",
        )
    if isinstance(error, ClientAuthenticationError):  # a token it could not get (StorageSignInFailed), or may not send
        reason = (str(error.message or error).strip().splitlines() or ["no reason given"])[0][:240]
        return StorageFailure(
            FailureKind.NO_TOKEN,
            f"the app could not get a token for storage ({reason}); check the identity settings, and that the app has "
            "that identity",
        )
    if isinstance(error, HttpResponseError) and status is not None and status < 500:
        return StorageFailure(
            FailureKind.REFUSED_REQUEST, f"the storage service refused a request ({status} {storage_error_code(error)})"
        )
    return StorageFailure(FailureKind.UNAVAILABLE, f"the storage service did not answer ({type(error).__name__})")


def table_service(account: Account, **options: Any) -> TableServiceClient:
    """A client for the account, with the app's options (`options` add to or override them)."""
    if isinstance(account, str):
        return TableServiceClient.from_connection_string(account, **_app_options(options))
    if account.connection_string is not None:
        return TableServiceClient.from_connection_string(account.connection_string, **_app_options(options))
    assert account.endpoint is not None
    return TableServiceClient(endpoint=account.endpoint, credential=account.credential, **_app_options(options))


def table_client(account: Account, table_name: str, **options: Any) -> TableClient:
    """A client for one table, with the app's options; clients given one `transport` share its connection pool.

    Built on its own rather than by `TableServiceClient.get_table_client`, which wraps the transport in one whose
    `sleep` ignores `DeadlineTransport`'s: retry backoff would then outlast the deadline.
    """
    if isinstance(account, str):
        return TableClient.from_connection_string(account, table_name, **_app_options(options))
    if account.connection_string is not None:
        return TableClient.from_connection_string(account.connection_string, table_name, **_app_options(options))
    assert account.endpoint is not None
    return TableClient(account.endpoint, table_name, credential=account.credential, **_app_options(options))


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
    """A line per storage request in this process's log only when `enabled`; failures are logged either way.

    azure-identity logs each failed token request itself, twice, beside the app's one line: only when `enabled`.
    """
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.NOTSET if enabled else logging.WARNING)
    logging.getLogger(IDENTITY_LOGGER).setLevel(logging.NOTSET if enabled else logging.CRITICAL)
