"""The composition root: settings -> storage client -> store -> service -> purge and cancel completion, built in this one place.

The functions and the timer ask for the process's app (`current_app()`), which is built once, from the app
settings, on first use; nothing else in `shared` reads settings or builds what the app is made of. (What is the
process's by nature stays so: the storage deadline's watchdog thread, the request log's level, which the last app
to connect sets, and the proxy and CA variables the storage transport reads from the environment.) Commands, tests and
benchmarks build their own from settings they pass in (`open_app(settings)`), and a test serves its own through
the functions with `app_in_use(app)`.

Storage is connected (its table created if missing) on the first use of the store, not when the app is built, so
that the routes that need no storage (the locations) answer whatever storage is doing.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import azure.functions as func
from azure.data.tables import TableClient

from .api.callers import CallerReading
from .api.http import FunctionMain, Gate, Handler, arm_endpoint, list_query, list_response
from .domain.access import Action
from .domain.clock import Clock, SystemClock
from .domain.job import JobState
from .domain.jobs import JobService
from .domain.locations import LocationCatalogue
from .domain.store import JobStore
from .ops.cancels import CancelCompletions, PendingEntries
from .ops.purge import DIRECTORY_SETTLE, ExpiredEntries, Purge
from .settings import Settings, declared_anonymous, load_settings
from .storage.client import CLIENT_OPTIONS, connect_table, log_requests, storage_transport
from .storage.credentials import StorageAccount, account_by_identity
from .storage.directory import ExpiryDirectory
from .storage.expiry_index import ExpiryIndex
from .storage.job_table import TableJobStore

log = logging.getLogger("importexport")


class Index(ExpiredEntries, PendingEntries, Protocol):
    """The expiry index as the purge and the cancel completion use it (`shared.storage.expiry_index.ExpiryIndex`)."""


@dataclass(frozen=True)
class Storage:
    """The jobs table and what is built over it: the store (jobs and their entries), the index, the directory."""

    table: TableClient
    store: JobStore
    index: Index
    directory: ExpiryDirectory


class App:
    """Everything the functions, the timer and the commands use, built from one `Settings`.

    `clock` is the time the job operations and the directory go by (the system's by default); `table`, a client of
    the jobs table made by the caller (its table created), is used instead of connecting to the settings' storage;
    `wrap_storage` may put something around what is built over the table (a test's store that records every write,
    say); without `create_table`, a missing table is not created but `TableMissing` (a dry run writes nothing);
    `client_options` add to or override the storage client's (a `raw_request_hook` that counts or fails requests, say).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        table: TableClient | None = None,
        wrap_storage: Callable[[Storage], Storage] | None = None,
        create_table: bool = True,
        **client_options: Any,
    ) -> None:
        self.settings = settings
        self._create_table = create_table
        self.clock = clock or SystemClock()
        # What every request passes: its caller, read as the auth mode says, authorised by the roles.
        self.gate = Gate(
            reading=CallerReading(mode=settings.auth_mode, easy_auth_enabled=settings.easy_auth_enabled),
            policy=settings.access,
        )
        self._table = table
        # The account, and for an identity-based connection its credential: one for the app, which caches its tokens.
        self.account = (
            StorageAccount(connection_string=settings.storage_connection)
            if settings.storage_identity is None
            # its token requests on a storage transport of their own, so a request's storage deadline bounds them too
            else account_by_identity(settings.storage_identity, transport=storage_transport(), **CLIENT_OPTIONS)
        )
        self._wrap_storage = wrap_storage
        self._client_options = client_options
        self._storage: Storage | None = None
        self._jobs: JobService | None = None
        self._lock = threading.Lock()

    @property
    def locations(self) -> LocationCatalogue:
        return self.settings.locations

    @property
    def storage(self) -> Storage:
        """The jobs table and its store, index and directory; connected on first use.

        The connect (which makes the table) runs outside the lock: one that hangs must not hold up the requests
        behind it, which connect on their own; the first to finish is kept, and the others' clients closed.
        """
        if self._storage is not None:
            return self._storage
        connected = self._connect()
        with self._lock:
            if self._storage is None:
                self._storage = connected
                return connected
            kept = self._storage
        if connected.table is not kept.table:  # a caller's own table client is shared, not this connect's to close
            connected.table.close()
        return kept

    def _connect(self) -> Storage:
        log_requests(self.settings.log_storage_requests)
        table = self._table or connect_table(
            self.account, self.settings.table_name, create=self._create_table, **self._client_options
        )
        directory = ExpiryDirectory(table, clock=self.clock)
        storage = Storage(table, TableJobStore(table, directory), ExpiryIndex(table), directory)
        return storage if self._wrap_storage is None else self._wrap_storage(storage)

    @property
    def jobs(self) -> JobService:
        """The API's job operations over the store."""
        if self._jobs is None:
            storage = self.storage
            with self._lock:
                if self._jobs is None:
                    self._jobs = JobService(storage.store, self.clock, locations=self.locations)
        return self._jobs

    def purge(
        self,
        *,
        as_of: Clock | None = None,
        dry_run: bool = False,
        on_job: Callable[[JobState, str], None] | None = None,
        directory_settle: timedelta = DIRECTORY_SETTLE,
    ) -> Purge:
        """A purge run with the settings' retention and time budget, judging expiry at `as_of`'s time (default: now)."""
        storage = self.storage
        return Purge(
            storage.index,
            storage.directory,
            self.settings.retention,
            as_of or self.clock,
            timedelta(seconds=self.settings.purge_time_budget_seconds),
            dry_run=dry_run,
            on_job=on_job,
            directory_settle=directory_settle,
        )

    def cancel_completions(self, *, on_job: Callable[[str], None] | None = None) -> CancelCompletions:
        """A run of the completion of the cancels recorded in Creating (rule 3)."""
        storage = self.storage
        return CancelCompletions(storage.index, storage.directory, self.jobs, on_job=on_job)

    def close(self) -> None:
        """Closes the storage client and its connections, if it was connected, and the credential's."""
        with self._lock:
            if self._storage is not None:
                self._storage.table.close()
        self.account.close()


@contextmanager
def open_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    table: TableClient | None = None,
    wrap_storage: Callable[[Storage], Storage] | None = None,
    create_table: bool = True,
    **client_options: Any,
) -> Iterator[App]:
    """An app built from `settings` for the block (`App`'s options; `create_table=False` for a command that must write
    nothing, a missing table then being `TableMissing`), closed after it."""
    app = App(settings, clock=clock, table=table, wrap_storage=wrap_storage, create_table=create_table, **client_options)
    try:
        yield app
    finally:
        app.close()


_process_app: App | None = None
_in_use: list[App] = []
_building = threading.Lock()


def current_app() -> App:
    """The app the functions serve: the innermost `app_in_use`, else the process's own, built on first use from the
    app settings (a `SettingsError` when they are unusable; the next call reads them again)."""
    global _process_app
    if _in_use:
        return _in_use[-1]
    if _process_app is not None:
        return _process_app
    with _building:
        if _process_app is None:
            _process_app = App(load_settings())
        return _process_app


def endpoint(action: Action | None) -> Callable[[Handler], FunctionMain]:
    """A function's `main`, admitting callers through the current app's gate for `action` (None: any caller).

    The function's own `function.json` says whether the host checks a key for it (its authLevel): an anonymous
    function in keys mode would let anyone in, so the gate refuses to serve it (500 InvalidConfiguration).
    """

    def decorate(handler: Handler) -> FunctionMain:
        module = sys.modules.get(handler.__module__)
        anonymous = module is not None and module.__file__ is not None and declared_anonymous(Path(module.__file__).parent)
        return arm_endpoint(action, gate=lambda: current_app().gate, anonymous=anonymous)(handler)

    return decorate


def listing(req: func.HttpRequest, *, drives: bool) -> func.HttpResponse:
    """Either listing route's answer: its query read, a page of the current app's jobs, shaped as ARM lists them
    (`drives`: whether each job shows its drives), `nextLink` built as the app's settings say."""
    query = list_query(req)
    app = current_app()
    page = app.jobs.list_jobs(query.scope, query.top, query.skip_token, job_filter=query.job_filter)
    return list_response(
        req,
        page.jobs,
        page.next_skip_token,
        locations=app.locations,
        drives=drives,
        trust_forwarded=app.settings.trust_forwarded_headers,
    )


@contextmanager
def app_in_use(app: App) -> Iterator[App]:
    """Makes `current_app()` answer `app` while the block runs (tests and benchmarks serving their own app)."""
    _in_use.append(app)
    try:
        yield app
    finally:
        _in_use.remove(app)
