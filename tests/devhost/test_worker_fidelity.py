"""The dev host answers as Microsoft's Python worker does: every function of the app, and a probe app's, is run
through both, with the same requests, and their answers compared (status, the headers that matter, the body).

What the worker is, and how it is driven (learned from the package's source, version 1.2.0):
- `azure-functions-runtime-v1` is the "library worker" that runs v1-model apps (function.json + __init__.py) on
  Python 3.13. It has no gRPC loop of its own: in Azure a proxy worker holds the host's gRPC stream and hands each
  message to the package's `handle_event` functions (`worker_init_request`, `function_load_request`,
  `invocation_request`) with the protobuf module the message came from. The package ships Microsoft's generated
  FunctionRpc messages as a top-level `tests.protos` package (they import grpcio and protobuf).
- tests/worker_driver.py, run under Python 3.13 in `.venv-worker/` (scripts/worker_venv.py builds it; `make deps`
  and this module's fixture call it), plays the proxy and the host around those calls: it sends a
  WorkerInitRequest, one FunctionLoadRequest per function.json (its bindings as the host reads them), and for each
  request an InvocationRequest whose RpcHttp is what the host's ToRpcHttp builds for this worker (lower-case header
  names, query values that are not empty, the route values, the body as bytes when there is one), or the timer's
  TimerInfo JSON. The worker itself imports each function (as `__app__.<folder>`), binds `func.HttpRequest` /
  `func.TimerRequest`, calls `main` and turns its `func.HttpResponse` into the RpcHttp this test reads back.
- Routing (which function a URL reaches, route precedence and casing, `routePrefix`, keys) is the host's, not the
  worker's: tests/devhost/test_routing.py holds the dev host to the host's documented rules. Here each request names the
  function the host routes it to and its route values are read from that function's route template, so a dev host
  that routed elsewhere answers differently and fails the comparison.

Both sides run against the session's Azurite, each in a table of its own, with the same job keys, so the same
requests meet the same state. What differs by nature (ETag values, request ids, times) is compared by shape.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import pytest

from devhost.functions import load_app
from scripts.azurite import ROOT

from ..builders import API_VERSION, job_body, shippable_body
from ..harness import serving_app
from .fidelity import ISO_TIME, TIMER_INFOS, Call, send_to_devhost, send_to_worker


def job_path(subscription: str, group: str = "rg-fidelity", name: str = "job-1") -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.ImportExport/jobs/{name}"


def scenarios(sub: str) -> dict[str, list[Call]]:
    """Requests in order, each run on both sides: a scenario's later calls meet the state its earlier ones made."""
    job = job_path(sub)
    odd_case_job = f"/SUBSCRIPTIONS/{sub}/resourcegroups/RG-Fidelity/PROVIDERS/microsoft.importexport/JOBS/Job-Odd"
    create = Call.json("PUT", job, "create_job", job_body(), headers={"x-ms-client-request-id": "client-1"})
    ship = {"properties": {"state": "Shipping"}}
    return {
        "create a job": [create],
        "replace a job in Creating": [create, Call.json("PUT", job, "create_job", job_body(logLevel="Verbose"))],
        "create with odd casing of the route": [Call.json("PUT", odd_case_job, "create_job", job_body())],
        "read with odd casing of the route": [
            Call.json("PUT", job, "create_job", job_body()),
            Call("GET", job.upper().replace(sub.upper(), sub).replace("JOB-1", "job-1"), "get_job"),
        ],
        "read a missing job": [Call("GET", job, "get_job")],
        "a unicode body": [Call.json("PUT", job, "create_job", {**job_body(), "tags": {"grå": "ßü漢字", "emoji": "🚚"}})],
        "an empty body": [Call("PUT", job, "create_job", headers={"Content-Type": "application/json"})],
        "a body that is not JSON": [Call("PUT", job, "create_job", headers={"Content-Type": "application/json"}, body=b"{oops")],
        "a body that is not JSON's content type": [
            Call("PUT", job, "create_job", headers={"Content-Type": "text/xml"}, body=b"<a/>")
        ],
        "no api-version": [Call("GET", job, "get_job", query=[])],
        "PATCH ship and cancel": [
            Call.json("PUT", job, "create_job", shippable_body()),
            Call.json("PATCH", job, "cancel_job", ship),
            Call.json("PATCH", job, "cancel_job", {"properties": {"cancelRequested": True}}),
        ],
        "PATCH with a stale If-Match": [
            Call.json("PUT", job, "create_job", job_body()),
            Call.json(
                "PATCH", job, "cancel_job", {"tags": {"a": "b"}}, headers={"If-Match": "W/\"datetime'2000-01-01T00%3A00%3A00Z'\""}
            ),
        ],
        "PUT with If-None-Match on an existing job": [
            Call.json("PUT", job, "create_job", job_body()),
            Call.json("PUT", job, "create_job", job_body(), headers={"If-None-Match": "*"}),
        ],
        "DELETE twice": [
            Call.json("PUT", job, "create_job", job_body()),
            Call("DELETE", job, "delete_job"),
            Call("DELETE", job, "delete_job"),
        ],
        "DELETE a shipped job": [
            Call.json("PUT", job, "create_job", shippable_body()),
            Call.json("PATCH", job, "cancel_job", ship),
            Call("DELETE", job, "delete_job"),
        ],
        "POST listBitLockerKeys": [
            Call.json(
                "PUT",
                job,
                "create_job",
                job_body(
                    driveList=[{"driveId": "9CA995BA", "bitLockerKey": "238810-662376-448998-450120-652806-203390-606320-483076"}]
                ),
            ),
            Call("POST", job + "/listBitLockerKeys", "list_bitlocker_keys"),
        ],
        "POST an operator move": [
            Call.json("PUT", job, "create_job", shippable_body()),
            Call.json("PATCH", job, "cancel_job", ship),
            Call.json(
                "POST",
                f"/operator/subscriptions/{sub}/resourceGroups/rg-fidelity/jobs/job-1/state",
                "move_job",
                {"state": "Received"},
            ),
        ],
        "list a resource group a page at a time with $top and $filter": [
            Call.json("PUT", job_path(sub, name="job-a"), "create_job", job_body()),
            Call.json("PUT", job_path(sub, name="job-b"), "create_job", job_body()),
            Call(
                "GET",
                f"/subscriptions/{sub}/resourceGroups/rg-fidelity/providers/Microsoft.ImportExport/jobs",
                "list_jobs_by_resource_group",
                query=[("api-version", API_VERSION), ("$top", "1"), ("$filter", "state eq 'Creating'")],
            ),
        ],
        "list a subscription with odd casing of query names": [
            Call.json("PUT", job, "create_job", job_body()),
            Call(
                "GET",
                f"/subscriptions/{sub}/providers/Microsoft.ImportExport/jobs",
                "list_jobs_by_subscription",
                query=[("API-VERSION", API_VERSION), ("$TOP", "5")],
            ),
        ],
        "a query parameter given twice": [
            Call("GET", job, "get_job", query=[("api-version", API_VERSION), ("api-version", API_VERSION)])
        ],
        "an empty $top": [
            Call(
                "GET",
                f"/subscriptions/{sub}/providers/Microsoft.ImportExport/jobs",
                "list_jobs_by_subscription",
                query=[("api-version", API_VERSION), ("$top", "")],
            )
        ],
        "locations": [Call("GET", "/providers/Microsoft.ImportExport/locations", "list_locations")],
        "a location by name in odd casing": [Call("GET", "/PROVIDERS/Microsoft.ImportExport/locations/WestUS", "get_location")],
        "an unknown location": [Call("GET", "/providers/Microsoft.ImportExport/locations/atlantis", "get_location")],
        "operations": [Call("GET", "/providers/Microsoft.ImportExport/operations", "list_operations")],
        "an unknown path": [Call("GET", "/nothing/here", "not_found")],
        "a method the job route does not take": [Call.json("POST", job, "not_found", {})],
        "a percent-encoded unicode job name": [Call("GET", job_path(sub, name=quote("jöb")), "get_job")],
    }


SCENARIO_NAMES = list(scenarios("00000000-0000-0000-0000-000000000000"))


@pytest.mark.slow
def test_every_function_folder_loads_in_the_worker_as_in_the_dev_host(worker):
    # given the app's function folders
    folders = sorted(path.parent.name for path in ROOT.glob("*/function.json"))
    # when the worker loads each (worker fixture) and the dev host reads the app
    devhost_app = load_app(ROOT)
    # then the worker loaded every one without error, and the dev host serves the same functions
    assert worker.loaded["init"] is None
    assert worker.loaded["functions"] == {name: None for name in folders}
    assert sorted(devhost_app.functions) == folders
    assert all(callable(function.entry_point()) for function in devhost_app.functions.values())


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_the_app_answers_alike_through_the_worker_and_the_dev_host(scenario, worker, devhost):
    # given a subscription of the test's own, the same on both sides (each side has its own table)
    sub = str(uuid.uuid4())
    host = f"127.0.0.1:{devhost.server_address[1]}"
    for call in scenarios(sub)[scenario]:
        # when each request goes through the dev host and through the worker
        through_devhost = send_to_devhost(devhost, call)
        through_worker = send_to_worker(worker, ROOT, call, host)
        # then the answers agree: status, the headers that matter, the body
        assert through_devhost.comparable() == through_worker.comparable(), f"{call.method} {call.target}"


def purge_lines(logs: list[list[str]]) -> list[list[str]]:
    """The app's own log lines ([level, message]), with what changes from run to run (times, durations) masked."""
    return [
        [level, re.sub(r"\d+\.\d+ s\b", "<seconds> s", ISO_TIME.sub("<time>", message))]
        for name, level, message in logs
        if name.startswith("importexport")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["first run of a monitored timer", "a later run, past due"])
def test_the_purge_timer_runs_alike_through_the_worker_and_the_dev_host(case, timer_worker, app_settings, caplog):
    # given the purge timer, over an empty table on each side, and the host's TimerInfo (on time, or past due)
    host_info, devhost_request = TIMER_INFOS[case]
    past_due = devhost_request.past_due
    purge = load_app(ROOT).functions["purge_timer"]
    # when the worker runs it with the host's TimerInfo, and the dev host with its timer argument
    through_worker = timer_worker.ask({"op": "timer", "function": "purge_timer", "trigger": "timer", "info": host_info})
    caplog.set_level("INFO")
    with serving_app(app_settings.model_copy(update={"table_name": "DevhostPurge" + uuid.uuid4().hex[:12]})):
        returned = purge.invoke(devhost_request)
    through_devhost = [[record.name, record.levelname, record.getMessage()] for record in caplog.records]
    # then both return nothing and log the same lines (the past-due warning only when past due)
    assert through_worker["error"] is None and through_worker["return"] is None and returned is None
    assert purge_lines(through_devhost) == purge_lines(through_worker["logs"])
    assert any("past due" in message for _, message in purge_lines(through_devhost)) == past_due
