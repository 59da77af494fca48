"""Fixtures of the dev host tier: an echo app that answers with what it was given, hosted with a short read timeout,
and the repository's app served with keys."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from devhost.functions import load_app
from devhost.server import DevHost, Keys
from scripts.azurite import ROOT
from scripts.worker_venv import WorkerUnavailable, ensure_worker_venv

from ..harness import hosting, serving
from .fidelity import Worker, start_worker, write_probe_app
from .identity import importable, write_whoami_app


@pytest.fixture(scope="module")
def whoami(tmp_path_factory):
    """An app whose functions answer with what the dev host handed them (`identity.WhoamiApp`), importable."""
    app = write_whoami_app(tmp_path_factory.mktemp("whoami"))
    with importable(app.root):
        yield app


@pytest.fixture(scope="module")
def keyed_host(app_settings):
    with serving(keys=Keys(function_key="fn-key", master_key="master-key")) as server:
        yield server


ECHO_FUNCTION = """
import json
import threading

import azure.functions as func

all_at_once = threading.Barrier(32)


def main(req: func.HttpRequest) -> func.HttpResponse:
    if req.route_params.get("rest") == "boom":
        raise RuntimeError("the function failed")
    if req.route_params.get("rest") == "together":
        all_at_once.wait(timeout=10)  # breaks, so answers 500, unless 32 calls run at once
    seen = {"method": req.method, "url": req.url, "params": dict(req.params), "route": dict(req.route_params),
            "body": req.get_body().decode("latin-1"), "headers": dict(req.headers)}
    return func.HttpResponse(json.dumps(seen), mimetype="application/json")
"""


@pytest.fixture(scope="module")
def echo_app(tmp_path_factory):
    """An app of one anonymous function that answers with what it was given."""
    root = tmp_path_factory.mktemp("echo_app")
    package = f"echo_{uuid.uuid4().hex[:8]}"
    (root / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}))
    (root / package).mkdir()
    binding = {
        "type": "httpTrigger",
        "direction": "in",
        "name": "req",
        "authLevel": "anonymous",
        "methods": ["get", "head", "put", "post"],
        "route": "echo/{*rest}",
    }
    (root / package / "function.json").write_text(
        json.dumps({"bindings": [binding, {"type": "http", "direction": "out", "name": "$return"}]})
    )
    (root / package / "__init__.py").write_text(ECHO_FUNCTION)
    sys.path.insert(0, str(root))
    yield load_app(root)
    sys.path.remove(str(root))


@pytest.fixture(scope="module")
def echo_host(echo_app):
    """A dev host (short read timeout) over the echo app."""
    with hosting(echo_app) as server:
        yield server


@pytest.fixture(scope="session")
def worker_python() -> Path:
    try:
        return ensure_worker_venv()
    except WorkerUnavailable as error:
        pytest.skip(f"Microsoft's Python worker (Python 3.13, .venv-worker) is not available: {error}")


@pytest.fixture(scope="module")
def worker(worker_python, azurite) -> Worker:
    """The app's functions in the worker, over a table of its own in the session's Azurite."""
    running = start_worker(worker_python, ROOT, azurite, "Worker" + uuid.uuid4().hex[:12])
    yield running
    running.close()


@pytest.fixture(scope="module")
def probe_root(tmp_path_factory) -> Path:
    """The probe app, in a folder of the module's own."""
    return write_probe_app(tmp_path_factory.mktemp("probe_app"))


@pytest.fixture(scope="module")
def probe_devhost(probe_root) -> DevHost:
    # The dev host imports a function by its folder name from the app folder, as `python -m devhost` puts it on sys.path.
    sys.path.insert(0, str(probe_root))
    with serving(load_app(probe_root)) as server:
        yield server
    sys.path.remove(str(probe_root))


@pytest.fixture(scope="module")
def probe_worker(worker_python, probe_root) -> Worker:
    running = Worker(worker_python, probe_root, {})
    yield running
    running.close()


@pytest.fixture(scope="module")
def timer_worker(worker_python, azurite) -> Worker:
    """The app in the worker over an empty table of its own, so a purge's report depends on nothing else."""
    running = start_worker(worker_python, ROOT, azurite, "WorkerPurge" + uuid.uuid4().hex[:12])
    yield running
    running.close()
