"""Routing as the Functions host does it: every function folder served on its route, templates, precedence (literal,
parameter, catch-all), the catch-all for unknown paths and wrong methods, auth levels with keys, the admin endpoint."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid

import pytest
import requests

from devhost.functions import compile_route, load_app
from scripts.azurite import ROOT

from ..builders import ABSENT_JOB_PATH
from ..harness import (
    assert_dev_host_error,
    exchange,
    hosting,
    serving,
)


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
    # the cancel completion runs on a schedule of its own, which no setting needs to give
    assert app.functions["complete_cancels"].trigger["schedule"] == "*/10 * * * * *"


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_an_app_setting_disables_a_function_as_on_the_functions_host(monkeypatch, value):
    # given the app settings AzureWebJobs.{name}.Disabled for a timer and an HTTP function
    monkeypatch.setenv("AzureWebJobs.complete_cancels.Disabled", value)
    monkeypatch.setenv("AzureWebJobs.get_job.Disabled", value)
    # when the app is loaded
    app = load_app(ROOT)
    # then the timer is not scheduled and the route answers no more, while the rest are untouched
    assert [timer.name for timer in app.enabled_timers()] == ["purge_timer"]
    assert "get_job" not in {function.name for function in app.http_functions()}
    job_path = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ImportExport/jobs/j"
    assert app.match("GET", job_path).function.name == "not_found"
    assert app.functions["complete_cancels"].disabled


def test_a_function_is_enabled_unless_its_setting_says_true(monkeypatch):
    monkeypatch.setenv("AzureWebJobs.complete_cancels.Disabled", "false")
    assert [timer.name for timer in load_app(ROOT).enabled_timers()] == ["complete_cancels", "purge_timer"]


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
    wrong_method = api.request("POST", ABSENT_JOB_PATH)
    # then both reach the catch-all, as on the Functions host (a route whose methods differ does not match)
    assert unknown.status_code == wrong_method.status_code == 404
    assert unknown.json()["error"]["message"] == "No operation of this API answers GET /nothing/here."
    assert wrong_method.json()["error"]["message"] == f"No operation of this API answers POST {ABSENT_JOB_PATH}."


@pytest.mark.parametrize(
    "method,path,key,status",
    [
        ("GET", ABSENT_JOB_PATH, None, 401),
        ("GET", ABSENT_JOB_PATH, "wrong", 401),
        ("GET", ABSENT_JOB_PATH, "fn-key", 404),
        ("GET", ABSENT_JOB_PATH, "master-key", 404),
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
    response = requests.get(
        keyed_host.base_url + ABSENT_JOB_PATH, params={"api-version": "2021-01-01", "code": "fn-key"}, timeout=10
    )
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
    answers = exchange(keyed_host, f"GET {ABSENT_JOB_PATH}?api-version=2021-01-01 HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    assert assert_dev_host_error(answers[0], 401)["code"] == "Unauthorized"
