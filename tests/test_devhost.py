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
from datetime import datetime, timedelta

import pytest
import requests

from devhost.functions import compile_route, load_app
from devhost.server import DevHost, Keys
from devhost.timers import TimerScheduler, resolve_schedule, uses_monitor
from scripts.azurite import ROOT, free_port
from scripts.devhost_process import DevHostProcess

from .harness import serving

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
        "list_bitlocker_keys": (["post"], "function"),
        "list_jobs_by_resource_group": (["get"], "function"),
        "list_jobs_by_subscription": (["get"], "function"),
        "move_job": (["post"], "admin"),
        "list_locations": (["get"], "function"),
        "get_location": (["get"], "function"),
        "list_operations": (["get"], "function"),
        "not_found": ([], "function"),
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


def test_unknown_paths_and_wrong_methods_reach_the_apps_catch_all(api):
    # given the app, whose not_found function's route takes every path and method
    # when a path no route takes and a known job path with a method its route does not take are called
    unknown = api.request("GET", "/nothing/here")
    wrong_method = api.request("POST", JOB)
    # then both reach the catch-all, as on the Functions host (a route whose methods differ does not match)
    assert unknown.status_code == wrong_method.status_code == 404
    assert unknown.json()["error"]["message"] == "No operation of this API answers GET /nothing/here."
    assert wrong_method.json()["error"]["message"] == f"No operation of this API answers POST {JOB}."


def test_a_burst_of_new_connections_is_served(app_settings):
    # given a dev host and 128 clients that connect at the same moment (a load test's start, a retry storm)
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
    with serving() as server:
        threads = [threading.Thread(target=connect_and_get) for _ in range(clients)]
        for each in threads:
            each.start()
        for each in threads:
            each.join()
    # then every one is answered: none is left in a full accept queue (socketserver's default holds 5)
    assert answers == [404] * clients


@pytest.fixture(scope="module")
def keyed_host(app_settings):
    with serving(keys=Keys(function_key="fn-key", master_key="master-key")) as server:
        yield server


@pytest.mark.parametrize(
    "method,path,key,status",
    [
        ("GET", JOB, None, 401),
        ("GET", JOB, "wrong", 401),
        ("GET", JOB, "fn-key", 404),
        ("GET", JOB, "master-key", 404),
        ("POST", "/operator/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/jobs/j/state", "fn-key", 401),
        (
            "POST",
            "/operator/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/jobs/j/state",
            "master-key",
            404,
        ),
        ("POST", "/admin/functions/create_job", "fn-key", 401),
    ],
)
def test_keys_enforce_auth_levels(keyed_host, method, path, key, status):
    headers = {"x-functions-key": key} if key else {}
    body = {"state": "Received"} if method == "POST" else None
    response = requests.request(
        method, keyed_host.base_url + path, params={"api-version": "2021-01-01"}, headers=headers, json=body, timeout=10
    )
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
    try:
        # when it is run through the admin endpoint
        with serving(load_app(tmp_path)) as server:
            response = requests.post(f"{server.base_url}/admin/functions/{package}", json={"input": ""}, timeout=10)
            missing = requests.post(f"{server.base_url}/admin/functions/nope", json={}, timeout=10)
    finally:
        sys.path.remove(str(tmp_path))
    # then it ran once, as the Functions host would run it
    assert response.status_code == 202
    assert marker.read_text() == "False"
    assert missing.status_code == 404


def test_python_m_devhost_serves_the_app(app_settings, tmp_path):
    # given only the environment a user would set
    host = DevHostProcess(app_settings.storage_connection, app_settings.table_name, root=None, capture_output=True)
    with host:
        # when a job route is called
        response = requests.get(f"http://127.0.0.1:{host.port}{JOB}", params={"api-version": "2021-01-01"}, timeout=10)
    # then the app answers through it
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"
    assert "create_job: PUT /subscriptions/{subscriptionId}" in host.output


def timer_app(tmp_path, schedule: str, **trigger) -> tuple[str, "object"]:
    """An app with one timer function that keeps each run's TimerRequest in its module's `runs`."""
    package = f"tick_{uuid.uuid4().hex[:8]}"
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    (tmp_path / package).mkdir()
    binding = {"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": schedule, **trigger}
    (tmp_path / package / "function.json").write_text(json.dumps({"bindings": [binding]}))
    (tmp_path / package / "__init__.py").write_text("runs = []\n\ndef main(timer):\n    runs.append(timer)\n")
    sys.path.insert(0, str(tmp_path))
    return package, load_app(tmp_path)


def runs_of(scheduler: TimerScheduler, package: str, app_folder, seconds: float = 2.5) -> list:
    """Runs the scheduler for `seconds`, then gives the TimerRequests `timer_app`'s function was called with."""
    scheduler.start()
    try:
        time.sleep(seconds)
    finally:
        scheduler.stop()
        sys.path.remove(str(app_folder))
    return importlib.import_module(package).runs


@pytest.mark.slow
def test_timer_functions_fire_on_their_ncrontab_schedule_from_an_app_setting(tmp_path, monkeypatch):
    # given a timer whose six-field schedule (every second) comes from an app setting
    monkeypatch.setenv("TICK_SCHEDULE", "* * * * * *")
    package, app = timer_app(tmp_path, "%TICK_SCHEDULE%")
    scheduler = TimerScheduler(list(app.functions.values()))
    assert scheduler.scheduled == [package]
    # when the scheduler runs for a little over two seconds
    runs = runs_of(scheduler, package, tmp_path)
    # then the function ran on the second ticks, on time
    assert 2 <= len(runs) <= 3
    assert runs[0].past_due is False


@pytest.mark.slow
def test_a_monitored_timer_is_handed_the_hosts_schedule_status_run_after_run(tmp_path):
    # given a timer that fires every second and asks to be monitored
    package, app = timer_app(tmp_path, "* * * * * *", useMonitor=True)
    # when the scheduler runs for a little over two seconds
    first, second = runs_of(TimerScheduler(list(app.functions.values())), package, tmp_path)[:2]
    # then the first run has no last run yet, and Next is the occurrence being run
    assert first.schedule == {"AdjustForDST": True}
    assert first.schedule_status["Last"] == first.schedule_status["LastUpdated"] == "0001-01-01T00:00:00"
    first_due = datetime.fromisoformat(first.schedule_status["Next"])
    assert first_due.microsecond == 0 and first_due.utcoffset() == timedelta(0)
    # and the second has the first's run as Last and its own occurrence, a second later, as Next
    assert datetime.fromisoformat(second.schedule_status["Last"]) >= first_due
    assert second.schedule_status["LastUpdated"] == second.schedule_status["Last"]
    assert datetime.fromisoformat(second.schedule_status["Next"]) == first_due + timedelta(seconds=1)


@pytest.mark.parametrize(
    "schedule,trigger,monitored",
    [
        ("0 0 * * * *", {}, True),
        ("0 * * * * *", {}, True),
        ("*/30 * * * * *", {}, False),
        ("0 0 * * * *", {"useMonitor": False}, False),
        ("* * * * * *", {"useMonitor": "true"}, True),
    ],
)
def test_a_timer_is_monitored_unless_it_says_not_or_fires_more_than_once_a_minute(tmp_path, schedule, trigger, monitored):
    # given a timer function with this schedule and function.json
    _, app = timer_app(tmp_path, schedule, **trigger)
    sys.path.remove(str(tmp_path))
    [function] = app.functions.values()
    # then the host would keep a schedule status for it exactly when the rule says
    assert uses_monitor(function, schedule) is monitored


@pytest.mark.parametrize("setting", ["yes", 1, "on", [True]])
def test_a_use_monitor_that_is_not_true_or_false_leaves_the_timer_out(tmp_path, setting, caplog):
    # given a timer whose function.json says useMonitor is neither true nor false
    package, app = timer_app(tmp_path, "0 0 * * * *", useMonitor=setting)
    sys.path.remove(str(tmp_path))
    # when the scheduler reads it, then the timer is reported and left out, as one with a bad schedule
    assert TimerScheduler(list(app.functions.values())).scheduled == []
    assert f"timer not scheduled: {package}: useMonitor is {setting!r}; it takes true or false" in caplog.text


@pytest.mark.parametrize("schedule", ["%MISSING_SCHEDULE%", "0 * * * *", "61 * * * * *", "0 0 0 31 2 *"])
def test_bad_or_missing_schedules_leave_the_timer_out(tmp_path, schedule, caplog):
    # "0 0 0 31 2 *" is valid field by field but never fires (no February 31st)
    _, app = timer_app(tmp_path, schedule)
    sys.path.remove(str(tmp_path))
    [function] = app.functions.values()
    with pytest.raises(ValueError):
        resolve_schedule(function)
    assert TimerScheduler([function]).scheduled == []


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


@pytest.mark.parametrize("port", ["99999", "-1", "http", "٣"])
def test_a_port_that_is_not_a_port_number_is_one_usage_error(tmp_path, port):
    # when the dev host is started on something that is not a TCP port
    result = start_devhost(app_folder(tmp_path), "--port", port)
    # then argparse refuses it in one line, without a traceback
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"python -m devhost: error: argument --port: {port!r} is not a port number (0-65535)"


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


def test_a_whitespace_only_key_counts_as_unset(tmp_path):
    # given a function key of only a space beside a real master key
    environment = {"DEVHOST_FUNCTION_KEY": " ", "DEVHOST_MASTER_KEY": "master"}
    # when the dev host is started
    result = start_devhost(app_folder(tmp_path), "--port", str(free_port()), env=environment)
    # then the blank key is no key: one set without the other is refused in one line
    line = assert_one_line_refusal(result)
    assert "DEVHOST_MASTER_KEY is set but DEVHOST_FUNCTION_KEY is not" in line


def test_the_same_value_for_both_keys_is_refused_in_one_line(tmp_path):
    # given a function key equal to the master key (every function key would then open the admin routes)
    environment = {"DEVHOST_FUNCTION_KEY": "same", "DEVHOST_MASTER_KEY": "same"}
    # when the dev host is started
    result = start_devhost(app_folder(tmp_path), "--port", str(free_port()), env=environment)
    # then it refuses in one line naming both variables
    line = assert_one_line_refusal(result)
    assert "DEVHOST_FUNCTION_KEY" in line and "DEVHOST_MASTER_KEY" in line and "same" in line


@pytest.mark.parametrize("schedule", ["every minute", "0 0 0 31 2 *"])
def test_an_invalid_schedule_setting_is_logged_and_the_host_still_serves(tmp_path, schedule):
    # given a timer whose schedule setting holds no schedule, or one that never fires
    package, _ = timer_app(tmp_path, "%TICK_SCHEDULE%")
    sys.path.remove(str(tmp_path))
    host = DevHostProcess(root=tmp_path, environment={"TICK_SCHEDULE": schedule}, capture_output=True)
    # when it starts
    with host:
        answer = requests.get(f"http://127.0.0.1:{host.port}/nothing", timeout=10)
    # then the timer is reported and left out, and the rest is served
    assert f"timer not scheduled: {package}" in host.output
    assert "Traceback" not in host.output
    assert answer.status_code == 404


# --- HTTP on the wire: framing, the host's own error answers, concurrency; raw sockets where framing is the point ---

READ_TIMEOUT = 1  # second; the production default is checked by value below
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


def hosting(app, address: str = "127.0.0.1"):
    """A dev host serving `app` on a free port of `address` (short read timeout) while the block runs."""
    return serving(app, address=address, read_timeout=READ_TIMEOUT)


@pytest.fixture(scope="module")
def echo_host(echo_app):
    """A dev host (short read timeout) over the echo app."""
    with hosting(echo_app) as server:
        yield server


def connect(server: DevHost) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10)
    return connection


def read_response(stream, head: bool = False) -> tuple[int, dict[str, str], bytes] | None:
    """One HTTP response from a raw connection's stream; None when the server closed the connection instead."""
    status_line = stream.readline()
    if not status_line:
        return None
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head else int(headers.get("content-length", 0))
    return int(status_line.split()[1]), headers, stream.read(length)


def exchange(server: DevHost, data: bytes, responses: int = 1, head: bool = False) -> list:
    """Sends raw bytes on a new connection; the responses read back, then None if the server closed it."""
    with connect(server) as connection, connection.makefile("rb") as stream:
        connection.sendall(data)
        answers = [read_response(stream, head) for _ in range(responses)]
        if answers[-1] is not None and answers[-1][1].get("connection") == "close":
            answers.append(read_response(stream))
        return answers


def assert_dev_host_error(answer, status: int) -> dict:
    """The answer is the dev host's own error: `status`, a JSON ARM error body, never HTML."""
    got_status, headers, body = answer
    assert got_status == status, (got_status, body[:200])
    assert headers["content-type"].startswith("application/json")
    assert b"<html" not in body.lower() and b"Traceback" not in body
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"} and error["code"] and error["message"]
    return error


def test_a_chunked_put_reaches_the_function_with_its_body(echo_host):
    # given a PUT whose body is sent in chunks (Transfer-Encoding: chunked, which the Functions host accepts)
    request = b"PUT /echo/chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    # when it is sent
    [(status, _, body)] = exchange(echo_host, request)
    # then the function gets the whole body
    assert status == 200
    assert json.loads(body)["body"] == "hello world"


def test_a_request_pipelined_after_a_chunked_one_is_answered_as_itself(echo_host):
    # given a chunked PUT and, on the same connection right behind it, a GET
    chunked = b"PUT /echo/first HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    following = b"GET /echo/second HTTP/1.1\r\nHost: h\r\n\r\n"
    # when both are sent at once
    first, second = exchange(echo_host, chunked + following, responses=2)
    # then each is answered as what it is: the chunked body was read, not parsed as a request
    assert (first[0], json.loads(first[2])["route"]) == (200, {"rest": "first"})
    assert (second[0], json.loads(second[2])["route"]) == (200, {"rest": "second"})


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: abc",
        b"Content-Length: -1",
        b"Content-Length: 3\r\nContent-Length: 4",
        b"Transfer-Encoding: chunked\r\n\r\nzz",
    ],
)
def test_malformed_framing_is_a_400_with_a_json_error(echo_host, framing):
    # when a request's body framing cannot be read
    answers = exchange(echo_host, b"PUT /echo/x HTTP/1.1\r\nHost: h\r\n" + framing + b"\r\n\r\nabc")
    # then the dev host answers 400 with an ARM error body (not HTML, not a dropped connection)
    assert assert_dev_host_error(answers[0], 400)["code"] == "BadRequest"


def test_after_a_framing_error_the_connection_closes_and_nothing_behind_it_is_misparsed(echo_host):
    # given a request with a broken Content-Length and a GET pipelined behind it
    broken = b"PUT /echo/x HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n"
    following = b"GET /echo/next HTTP/1.1\r\nHost: h\r\n\r\n"
    # when both are sent at once
    answers = exchange(echo_host, broken + following)
    # then there is one 400, and the connection closes: where the broken body ends cannot be known
    assert_dev_host_error(answers[0], 400)
    assert answers[1:] == [None]


def test_a_stalled_request_body_is_answered_408_then_the_connection_closes(echo_host):
    # given a request that promises ten bytes of body and sends three
    with connect(echo_host) as connection, connection.makefile("rb") as stream:
        connection.sendall(b"PUT /echo/x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        started = time.monotonic()
        # when nothing more comes
        connection.settimeout(READ_TIMEOUT + 5)
        answer = read_response(stream)
        waited = time.monotonic() - started
        after = read_response(stream)
    # then, once the timeout has passed and not long after, a 408 ARM error (as Kestrel answers) and the close
    assert assert_dev_host_error(answer, 408)["code"] == "RequestTimeout"
    assert answer[1]["connection"] == "close"
    assert after is None
    assert READ_TIMEOUT - 0.1 <= waited <= READ_TIMEOUT + 3


def test_an_idle_kept_alive_connection_is_closed_without_an_answer(echo_host):
    # given a connection whose one request has been answered
    with connect(echo_host) as connection, connection.makefile("rb") as stream:
        connection.sendall(b"GET /echo/x HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_response(stream)[0] == 200
        # when it sends nothing more for longer than the read timeout
        connection.settimeout(READ_TIMEOUT + 5)
        data = connection.recv(65536)
    # then it is closed with nothing sent: no request is waiting for an answer
    assert data == b""


def test_a_chunk_size_over_the_limit_is_413_at_once(echo_host):
    # given a chunked request whose first chunk announces far more than 100 MiB
    request = b"PUT /echo/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nabc"
    started = time.monotonic()
    # when it is sent
    answers = exchange(echo_host, request)
    # then it is refused before its data is awaited, not left to time out
    assert_dev_host_error(answers[0], 413)
    assert time.monotonic() - started < READ_TIMEOUT


@pytest.mark.parametrize(
    "request_bytes,words",
    [
        (b"PUT /echo/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "hexadecimal"),
        (b"PUT /echo/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "CRLF"),
        (b"GET /echo/x HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n", "name: value"),
        (b"GET /echo/x\r\n\r\n", "request line"),
    ],
)
def test_an_unreadable_request_is_explained_in_words_not_python_reprs(echo_host, request_bytes, words):
    # when a request cannot be read (a chunk size, a chunk's end, a header line, the request line)
    error = assert_dev_host_error(exchange(echo_host, request_bytes)[0], 400)
    # then the message says what is wrong, without the bytes as Python shows them
    assert words in error["message"]
    assert "bytearray(" not in error["message"] and "b'" not in error["message"]


def test_the_read_timeout_is_30_seconds_by_default(app_settings):
    from devhost.server import DEFAULT_READ_TIMEOUT_SECONDS

    assert DEFAULT_READ_TIMEOUT_SECONDS == 30
    server = DevHost(load_app(ROOT), ("127.0.0.1", 0), Keys())
    try:
        assert server.read_timeout == 30
    finally:
        server.server_close()


def test_a_body_over_100_mib_is_413_with_a_json_error(echo_host):
    # when a request announces a body one byte over the Functions host's 100 MiB limit
    answers = exchange(echo_host, b"PUT /echo/x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (100 * 1024 * 1024 + 1))
    # then it is refused before the body is read
    assert_dev_host_error(answers[0], 413)


@pytest.mark.parametrize(
    "method,path,status,code",
    [
        ("GET", "/nothing/here", 404, "NotFound"),
        ("DELETE", "/echo/x", 404, "NotFound"),
        ("GET", "/echo/boom", 500, "InternalServerError"),
        ("GET", "/admin/functions/nope", 404, "NotFound"),
    ],
)
def test_the_hosts_own_errors_are_json_arm_errors(echo_host, method, path, status, code):
    answers = exchange(echo_host, f"{method} {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    assert assert_dev_host_error(answers[0], status)["code"] == code


def test_a_wrong_method_on_the_admin_run_endpoint_is_405_allowing_post(app_settings):
    # given a dev host over the app, which has a timer function
    with serving() as server:
        # when the endpoint that runs it is called with GET
        answers = exchange(server, b"GET /admin/functions/purge_timer HTTP/1.1\r\nHost: h\r\n\r\n")
    # then it is a 405 naming the method it takes, like every other wrong method
    assert assert_dev_host_error(answers[0], 405)["code"] == "MethodNotAllowed"
    assert answers[0][1]["allow"] == "POST"


def test_a_wrong_method_with_no_other_route_is_404_naming_the_routes_methods(echo_host):
    # given an app whose only route takes GET, HEAD, POST and PUT
    # when it is called with DELETE
    response = requests.delete(f"{echo_host.base_url}/echo/x", timeout=10)
    # then it is the Functions host's 404 (no route matched), and the message says what the route there takes
    assert response.status_code == 404
    assert "Allow" not in response.headers
    assert response.json()["error"]["message"].endswith("the route there takes GET, HEAD, POST, PUT.")


RANKED_FUNCTION = """
import json

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"function": __name__, "route": dict(req.route_params)}), mimetype="application/json")
"""


@pytest.fixture(scope="module")
def ranked_host(tmp_path_factory):
    """A dev host over an app whose routes overlap; folder names sort against the precedence the host must apply."""
    root = tmp_path_factory.mktemp("ranked_app")
    prefix = f"ranked_{uuid.uuid4().hex[:8]}"
    (root / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}))
    routes = {
        "a_catch_all": ("{*path}", None),
        "b_parameter": ("items/{id}", ["get", "post"]),
        "c_literal": ("Items/Special", ["get"]),
        "d_deeper_catch_all": ("items/{id}/{*rest}", ["get"]),
    }
    for name, (route, methods) in routes.items():
        binding = {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous", "route": route}
        if methods:
            binding["methods"] = methods
        (root / f"{prefix}_{name}").mkdir()
        (root / f"{prefix}_{name}" / "function.json").write_text(
            json.dumps({"bindings": [binding, {"type": "http", "direction": "out", "name": "$return"}]})
        )
        (root / f"{prefix}_{name}" / "__init__.py").write_text(RANKED_FUNCTION)
    sys.path.insert(0, str(root))
    with hosting(load_app(root)) as server:
        yield server, prefix
    sys.path.remove(str(root))


@pytest.mark.parametrize(
    "method,path,expected",
    [
        ("GET", "/items/special", "c_literal"),  # a literal segment beats a parameter, whatever the case
        ("GET", "/ITEMS/42", "b_parameter"),  # a parameter beats the catch-all
        ("POST", "/items/special", "b_parameter"),  # the literal route does not take POST: the next one does
        ("DELETE", "/items/42", "a_catch_all"),  # no route with a parameter takes DELETE
        ("GET", "/items/42/a/b", "d_deeper_catch_all"),  # a literal first segment beats a catch-all at the root
        ("PATCH", "/items/42/a/b", "a_catch_all"),
        ("GET", "/", "a_catch_all"),
        ("GET", "/nothing/here", "a_catch_all"),
    ],
)
def test_routes_are_tried_in_aspnet_core_precedence(ranked_host, method, path, expected):
    # given routes that overlap (a literal, a parameter, two catch-alls), in folders that sort the other way
    server, prefix = ranked_host
    # when a request is sent
    response = requests.request(method, server.base_url + path, timeout=10)
    # then the function whose route comes first by ASP.NET Core's precedence answers it
    assert response.status_code == 200, response.text
    assert response.json()["function"] == f"{prefix}_{expected}"


def test_the_admin_endpoint_is_the_hosts_own_even_with_a_catch_all(ranked_host):
    # given an app with a catch-all route
    server, _ = ranked_host
    # when the admin endpoint is called for a function that does not exist
    response = requests.post(f"{server.base_url}/admin/functions/nope", json={}, timeout=10)
    # then the host answers it itself, as the Functions host reserves admin/: the catch-all never sees it
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No function named nope."


def test_a_missing_key_is_a_401_json_error(keyed_host):
    answers = exchange(keyed_host, f"GET {JOB}?api-version=2021-01-01 HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    assert assert_dev_host_error(answers[0], 401)["code"] == "Unauthorized"


def test_head_answers_headers_only_and_the_connection_stays_usable(echo_host):
    # given a HEAD and, behind it on the same connection, a GET
    head = b"HEAD /echo/x HTTP/1.1\r\nHost: h\r\n\r\n"
    get = b"GET /echo/x HTTP/1.1\r\nHost: h\r\n\r\n"
    with connect(echo_host) as connection, connection.makefile("rb") as stream:
        connection.sendall(head + get)
        # when both are answered
        head_status, head_headers, head_body = read_response(stream, head=True)
        get_status, get_headers, get_body = read_response(stream)
    # then the HEAD had its headers (the length of the body a GET would get) and no body, so the GET's answer is intact
    assert (head_status, head_body) == (200, b"")
    assert int(head_headers["content-length"]) > 0
    assert get_status == 200 and json.loads(get_body)["method"] == "GET"


def test_requests_on_a_kept_alive_connection_share_it(echo_host):
    connection = http.client.HTTPConnection("127.0.0.1", echo_host.server_address[1], timeout=10)
    try:
        connection.request("GET", "/echo/one")
        assert connection.getresponse().read() and connection.sock is not None
        first_socket = connection.sock
        connection.request("GET", "/echo/two")
        assert connection.getresponse().status == 200
        assert connection.sock is first_socket
    finally:
        connection.close()


def test_32_requests_run_at_once(echo_host):
    # given 32 clients whose calls each wait until all 32 are running
    statuses: list[int] = []

    def call() -> None:
        statuses.append(requests.get(f"{echo_host.base_url}/echo/together", timeout=30).status_code)

    # when they call at the same time
    threads = [threading.Thread(target=call) for _ in range(32)]
    for each in threads:
        each.start()
    for each in threads:
        each.join()
    # then all ran concurrently, none waited for a free thread
    assert statuses == [200] * 32


# --- What the function is given: the URL the client called, the query as the Functions host passes it ---


def echoed(server: DevHost, request: bytes) -> dict:
    [(status, _, body)] = exchange(server, request)[:1]
    assert status == 200, body
    return json.loads(body)


def test_the_function_gets_the_url_the_client_called(echo_host):
    # when a client calls the dev host by a name of its own (a proxy, a container's port mapping, --host 0.0.0.0)
    seen = echoed(echo_host, b"GET /echo/a%20b?x=1&y=%2F HTTP/1.1\r\nHost: jobs.example:8443\r\n\r\n")
    # then the function's URL is scheme, that Host, and the path and query as sent, as the Functions host builds it
    assert seen["url"] == "http://jobs.example:8443/echo/a%20b?x=1&y=%2F"


@pytest.mark.parametrize("request_head", [b"GET /echo/x?y=1 HTTP/1.0\r\n\r\n", b"GET /echo/x?y=1 HTTP/1.1\r\nHost:\r\n\r\n"])
def test_without_a_host_header_the_url_names_the_address_the_client_reached(echo_app, request_head):
    # given a dev host listening on every address (--host 0.0.0.0)
    with hosting(echo_app, "0.0.0.0") as server:
        # when a client that reached it on 127.0.0.1 sends no Host header (HTTP/1.0) or an empty one
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as connection:
            connection.sendall(request_head)
            with connection.makefile("rb") as stream:
                status, _, body = read_response(stream)
    # then the URL names that address, not 0.0.0.0, which no client can call
    assert status == 200, body
    assert json.loads(body)["url"] == f"http://127.0.0.1:{server.server_address[1]}/echo/x?y=1"


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_without_a_host_header_an_ipv6_address_reached_is_bracketed(echo_app):
    # given a dev host listening on every IPv6 address
    with hosting(echo_app, "::") as server:
        # when a client that reached it on ::1 sends no Host header
        with socket.create_connection(("::1", server.server_address[1]), timeout=10) as connection:
            connection.sendall(b"GET /echo/x HTTP/1.0\r\n\r\n")
            with connection.makefile("rb") as stream:
                status, _, body = read_response(stream)
    # then the URL names it in brackets
    assert status == 200, body
    assert json.loads(body)["url"] == f"http://[::1]:{server.server_address[1]}/echo/x"


@pytest.mark.parametrize("host", [b"a b", b"evil.example/path", b"x@y"])
def test_a_host_header_that_names_no_host_is_a_400(echo_host, host):
    answers = exchange(echo_host, b"GET /echo/x HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert assert_dev_host_error(answers[0], 400)["code"] == "BadRequest"


def test_a_repeated_query_name_reaches_the_function_joined_with_commas(echo_host):
    # when a query repeats a name, in any casing (ASP.NET's query names are case-insensitive)
    seen = echoed(echo_host, b"GET /echo/x?tag=a&TAG=b&tag=c%2Cd&one=1&blank= HTTP/1.1\r\nHost: h\r\n\r\n")
    # then the function gets one value, the values joined with "," under the first spelling, as the Functions host
    # passes a query to a Python function (StringValues.ToString()); a name with an empty value is left out, as the
    # host leaves it out for the Python worker (tests/test_worker_fidelity.py)
    assert seen["params"] == {"tag": "a,b,c,d", "one": "1"}


def test_the_apps_next_link_names_the_host_the_client_called(api, subscription_id, new_key):
    # given two jobs, so that a listing one at a time has a next page
    for _ in range(2):
        assert api.put_job(new_key()).status_code == 201
    # when the listing is called through a name other than the address served
    path = f"/subscriptions/{subscription_id}/providers/Microsoft.ImportExport/jobs"
    response = api.request("GET", path, params={"$top": 1}, headers={"Host": "importexport.example:7071"})
    # then its nextLink points there, not at the bind address
    assert response.json()["nextLink"].startswith(f"http://importexport.example:7071{path}?")


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"identity", b"xchunked"])
def test_a_transfer_coding_the_host_cannot_read_is_400_like_the_functions_host(echo_host, coding):
    # given a request whose body is framed by a transfer coding other than chunked alone
    request = b"PUT /echo/coded HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + coding + b"\r\n\r\n"
    # when it is sent, then the answer is a 400 ARM error, as Kestrel's for a final coding that is not chunked
    assert assert_dev_host_error(exchange(echo_host, request)[0], 400)["code"] == "BadRequest"
