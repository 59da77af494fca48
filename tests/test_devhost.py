"""The dev host: routes from function.json/host.json, auth levels when keys are set, admin runs, and `python -m devhost`."""

from __future__ import annotations

import http.client
import importlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
import requests

from devhost.functions import compile_route, load_app
from devhost.server import DevHost, Keys
from devhost.timers import TimerScheduler, resolve_schedule

from .conftest import ROOT, free_port, serve, wait_for_port

JOB = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ImportExport/jobs/j"


def test_every_function_folder_is_served_with_its_route():
    app = load_app(ROOT)
    assert app.route_prefix == ""
    routes = {name: (sorted(f.methods), f.auth_level) for name, f in app.functions.items() if f.route}
    assert routes == {
        "create_job": (["put"], "function"),
        "get_job": (["get"], "function"),
        "cancel_job": (["patch"], "function"),
        "delete_job": (["delete"], "function"),
        "list_jobs_by_resource_group": (["get"], "function"),
        "list_jobs_by_subscription": (["get"], "function"),
        "move_job": (["post"], "admin"),
    }
    assert app.functions["purge_timer"].trigger["schedule"] == "%IMPORTEXPORT_PURGE_SCHEDULE%"


@pytest.mark.parametrize(
    "template,path,expected",
    [
        ("items/{id}", "/api/items/42", {"id": "42"}),
        ("items/{id:int}", "/api/ITEMS/42", {"id": "42"}),
        ("items/{id?}", "/api/items", {}),
        ("files/{*rest}", "/api/files/a/b/c", {"rest": "a/b/c"}),
        ("items/{id}", "/api/items/42/more", None),
    ],
)
def test_route_templates(template, path, expected):
    found = compile_route("api", template).fullmatch(path)
    values = None if found is None else {name: value for name, value in found.groupdict().items() if value is not None}
    assert values == expected


def test_unknown_route_is_404_and_wrong_method_405(api):
    assert api.request("GET", "/nothing/here").status_code == 404
    assert api.request("POST", JOB).status_code == 405


def test_a_burst_of_new_connections_is_served(app_settings):
    # given a dev host and 128 clients that connect at the same moment (a load test's start, a retry storm)
    server, thread = serve(Keys())
    clients = 128
    start = threading.Barrier(clients)
    answers: list[int | str] = []

    def connect_and_get() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        start.wait()
        try:
            connection.request("GET", "/nothing")
            answers.append(connection.getresponse().status)
        except OSError as error:
            answers.append(repr(error))
        finally:
            connection.close()

    # when each sends a request on its new connection
    threads = [threading.Thread(target=connect_and_get) for _ in range(clients)]
    for each in threads:
        each.start()
    for each in threads:
        each.join()
    server.shutdown()
    server.server_close()
    thread.join()
    # then every one is answered: none is left in a full accept queue (socketserver's default holds 5)
    assert answers == [404] * clients


@pytest.fixture(scope="module")
def keyed_host(app_settings):
    server, thread = serve(Keys(function_key="fn-key", master_key="master-key"))
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize(
    "method,path,key,status",
    [
        ("GET", JOB, None, 401),
        ("GET", JOB, "wrong", 401),
        ("GET", JOB, "fn-key", 404),
        ("GET", JOB, "master-key", 404),
        ("POST", "/operator/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/jobs/j/state", "fn-key", 401),
        ("POST", "/operator/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/jobs/j/state", "master-key", 404),
        ("POST", "/admin/functions/create_job", "fn-key", 401),
    ],
)
def test_keys_enforce_auth_levels(keyed_host, method, path, key, status):
    headers = {"x-functions-key": key} if key else {}
    body = {"state": "Received"} if method == "POST" else None
    response = requests.request(method, keyed_host.base_url + path, params={"api-version": "2021-01-01"}, headers=headers, json=body, timeout=10)
    assert response.status_code == status


def test_key_in_code_query_parameter(keyed_host):
    response = requests.get(keyed_host.base_url + JOB, params={"api-version": "2021-01-01", "code": "fn-key"}, timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"


def test_admin_endpoint_runs_a_timer_function(tmp_path):
    # given an app of its own with a timer function that records its run
    package = f"timer_{uuid.uuid4().hex[:8]}"
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    (tmp_path / package).mkdir()
    (tmp_path / package / "function.json").write_text(
        json.dumps({"bindings": [{"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": "0 0 * * * *"}]})
    )
    marker = tmp_path / "ran.txt"
    (tmp_path / package / "__init__.py").write_text(
        textwrap.dedent(
            f"""
            def main(timer):
                open({str(marker)!r}, "w").write(str(timer.past_due))
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    server = DevHost(load_app(tmp_path), ("127.0.0.1", 0), Keys())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # when it is run through the admin endpoint
        response = requests.post(f"{server.base_url}/admin/functions/{package}", json={"input": ""}, timeout=10)
        missing = requests.post(f"{server.base_url}/admin/functions/nope", json={}, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
        sys.path.remove(str(tmp_path))
    # then it ran once, as the Functions host would run it
    assert response.status_code == 202
    assert marker.read_text() == "False"
    assert missing.status_code == 404


def test_python_m_devhost_serves_the_app(app_settings, tmp_path):
    # given only the environment a user would set
    port = free_port()
    env = {**os.environ, "IMPORTEXPORT_STORAGE_CONNECTION": app_settings.storage_connection, "IMPORTEXPORT_TABLE_NAME": app_settings.table_name}
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for_port(port, 20)
        # when a job route is called
        response = requests.get(f"http://127.0.0.1:{port}{JOB}", params={"api-version": "2021-01-01"}, timeout=10)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    # then the app answers through it
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"
    assert "create_job: PUT /subscriptions/{subscriptionId}" in output


def timer_app(tmp_path, schedule: str) -> tuple[str, "object"]:
    package = f"tick_{uuid.uuid4().hex[:8]}"
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    (tmp_path / package).mkdir()
    (tmp_path / package / "function.json").write_text(
        json.dumps({"bindings": [{"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": schedule}]})
    )
    (tmp_path / package / "__init__.py").write_text("runs = []\n\ndef main(timer):\n    runs.append(timer.past_due)\n")
    sys.path.insert(0, str(tmp_path))
    return package, load_app(tmp_path)


def test_timer_functions_fire_on_their_ncrontab_schedule_from_an_app_setting(tmp_path, monkeypatch):
    # given a timer whose six-field schedule (every second) comes from an app setting
    monkeypatch.setenv("TICK_SCHEDULE", "* * * * * *")
    package, app = timer_app(tmp_path, "%TICK_SCHEDULE%")
    scheduler = TimerScheduler(list(app.functions.values()))
    # when the scheduler runs for a little over two seconds
    scheduler.start()
    try:
        time.sleep(2.5)
    finally:
        scheduler.stop()
        sys.path.remove(str(tmp_path))
    # then the function ran on the second ticks, on time
    runs = importlib.import_module(package).runs
    assert 2 <= len(runs) <= 3
    assert runs[0] is False


@pytest.mark.parametrize("schedule", ["%MISSING_SCHEDULE%", "0 * * * *", "61 * * * * *"])
def test_bad_or_missing_schedules_leave_the_timer_out(tmp_path, schedule, caplog):
    _, app = timer_app(tmp_path, schedule)
    sys.path.remove(str(tmp_path))
    [function] = app.functions.values()
    with pytest.raises(ValueError):
        resolve_schedule(function)
    assert TimerScheduler([function])._timers == []


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


def test_a_port_in_use_is_one_line_naming_it_and_what_to_do(tmp_path):
    # given a port something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # when the dev host is started on it
        result = start_devhost(app_folder(tmp_path), "--port", str(port))
    # then it says so in one line, naming the address and how to pick another
    line = assert_one_line_refusal(result)
    assert f"127.0.0.1:{port}" in line and "--port" in line and "PORT=" in line


def test_a_malformed_local_settings_file_is_one_line_naming_it(tmp_path):
    # given a local.settings.json with a syntax error
    root = app_folder(tmp_path, local_settings='{"Values": {"A": "1",}}')
    # when the dev host is started on that folder
    result = start_devhost(root, "--port", str(free_port()))
    # then it refuses in one line naming the file and the error
    line = assert_one_line_refusal(result)
    assert str(root / "local.settings.json") in line and "line 1 column" in line


def test_an_invalid_schedule_setting_is_logged_and_the_host_still_serves(tmp_path):
    # given a timer whose schedule setting holds no schedule
    package, _ = timer_app(tmp_path, "%TICK_SCHEDULE%")
    sys.path.remove(str(tmp_path))
    port = free_port()
    environment = {**os.environ, "TICK_SCHEDULE": "every minute"}
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--root", str(tmp_path), "--port", str(port)],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        # when it starts
        wait_for_port(port, 20)
        answer = requests.get(f"http://127.0.0.1:{port}/nothing", timeout=10)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    # then the timer is reported and left out, and the rest is served
    assert f"timer not scheduled: {package}" in output
    assert "Traceback" not in output
    assert answer.status_code == 404
