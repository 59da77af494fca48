"""Fixtures of every tier: a real Azurite for the session, the app built from explicit settings and served over HTTP by
the dev host, an API client, and keys and apps of each test's own. Fixtures only: test data is built by
`tests.builders`, the machinery is in `tests.harness`; each tier's folder may add fixtures of its own.

The tiers, by folder: unit (no Azurite), storage, api, clients, devhost, repo (docs/testing.md)."""

from __future__ import annotations

import fcntl
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from devhost.server import DevHost, Keys
from scripts.azurite import running_azurite
from shared.app import App, app_in_use, open_app
from shared.domain.job import JobState
from shared.domain.names import JobKey
from shared.domain.store import JobStore
from shared.ops.cancels import CompletionReport
from shared.settings import Settings

from .builders import LOCATIONS, api_job_in_state
from .entra import EntraHost, entra_host
from .harness import Api, serving

# The tier `make test-fast` runs: pure rules and reading, no Azurite, seconds.
UNIT_TIER = Path(__file__).resolve().parent / "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test that uses the session's Azurite (through any fixture) `azurite`; then puts the tests marked
    slow first, otherwise in file order: with parallel workers (the Makefile's -n and --dist worksteal), the long ones
    start early and idle workers take them over, rather than one ending the run alone."""
    for item in items:
        if "azurite" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.azurite)
        if item.get_closest_marker("azurite") and UNIT_TIER in item.path.parents:
            raise pytest.UsageError(f"{item.nodeid} needs Azurite: the unit tier (make test-fast) runs without it")
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def machine_to_itself(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Runs the test alone among this run's workers' tests of the same kind: tests that drive dozens of threads
    against Azurite. Two of them at once on a 2-core machine starve Azurite past the storage read timeout, and the
    app rightly answers 503; what they test is the app's rules under contention, not the machine's limits. Other
    tests go on meanwhile, on the other workers. The lock file is in the run's own temporary folder (shared by its
    xdist workers), which pytest removes with old runs."""
    run_folder = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_folder = run_folder.parent
    with open(run_folder / "machine_to_itself.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """A Table service of the session's own on a free port, in memory; yields its connection string."""
    with running_azurite() as connection:
        yield connection


@pytest.fixture(scope="session")
def app_settings(azurite: str) -> Settings:
    """The app's settings for the session: its Azurite, a table of its own, the repository's locations."""
    return Settings(storage_connection=azurite, table_name="Jobs" + uuid.uuid4().hex[:12], locations=LOCATIONS)


@pytest.fixture(scope="session")
def app(app_settings: Settings) -> Iterator[App]:
    """The app built from the session's settings, served by the functions (`current_app`) for the session."""
    with open_app(app_settings) as built, app_in_use(built):
        yield built


@pytest.fixture(scope="session")
def job_store(app: App) -> JobStore:
    """The app's own store (the session's table), as the functions use it."""
    return app.storage.store


@pytest.fixture(scope="session")
def devhost(app: App) -> Iterator[DevHost]:
    """The app served over HTTP by the dev host, without keys, for the session."""
    with serving(keys=Keys()) as server:
        yield server


@pytest.fixture(scope="session")
def api(devhost: DevHost) -> Api:
    """An API client of the session's dev host."""
    return Api(devhost.base_url)


@pytest.fixture(scope="session")
def behind_easy_auth(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EntraHost]:
    """The app in `entra` mode behind the dev host's HTTPS and Easy Auth (its own process), for the session."""
    with entra_host(azurite, tmp_path_factory.mktemp("entra")) as host:
        yield host


@pytest.fixture
def subscription_id() -> str:
    """A subscription of the test's own, so tests never see each other's jobs."""
    return str(uuid.uuid4())


_names = itertools.count(1)


@pytest.fixture
def new_key(subscription_id: str) -> Callable[[], JobKey]:
    """Makes keys of new jobs in the test's subscription (resource group "rg-test" unless given)."""
    return lambda resource_group="rg-test": JobKey(subscription_id, resource_group, f"job-{next(_names)}")


@pytest.fixture
def job_in_state(api: Api, new_key) -> Callable[..., JobKey]:
    """Makes a job in the given state through the API (`builders.api_job_in_state`) and returns its key."""

    def make(state: JobState, cancel_requested: bool = False) -> JobKey:
        return api_job_in_state(api, new_key(), state, cancel_requested=cancel_requested)

    return make


@pytest.fixture
def complete_cancels(app: App) -> Callable[[], CompletionReport]:
    """Runs the session app's cancel completion now, as its timer `complete_cancels` does every few seconds."""
    return lambda: app.cancel_completions().run()


@pytest.fixture
def fresh_app(app_settings: Settings) -> Iterator[Callable[..., App]]:
    """Apps over a table of the test's own, so a purge sees only the test's jobs; each takes `open_app`'s options
    (a clock, a storage wrapper, client options) and `settings_update`, settings that differ from the session's.
    Every app made is closed after the test."""
    table_name = "Purge" + uuid.uuid4().hex[:12]
    with ExitStack() as apps:

        def make(*, settings_update: dict | None = None, **options) -> App:
            settings = app_settings.model_copy(update={"table_name": table_name, **(settings_update or {})})
            return apps.enter_context(open_app(settings, **options))

        yield make
