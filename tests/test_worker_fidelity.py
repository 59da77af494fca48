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
  worker's: tests/test_devhost.py holds the dev host to the host's documented rules. Here each request names the
  function the host routes it to and its route values are read from that function's route template, so a dev host
  that routed elsewhere answers differently and fails the comparison.

Both sides run against the session's Azurite, each in a table of its own, with the same job keys, so the same
requests meet the same state. What differs by nature (ETag values, request ids, times) is compared by shape.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

import pytest

from devhost.functions import load_app
from devhost.server import DevHost
from devhost.timers import ScheduleStatus, timer_request
from scripts.azurite import ROOT
from scripts.worker_venv import WorkerUnavailable, ensure_worker_venv

from .builders import API_VERSION, job_body, shippable_body
from .harness import serving, serving_app

DRIVER = Path(__file__).resolve().parent / "worker_driver.py"
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
# The response headers a client acts on; x-ms-request-id is compared by presence (a new id each time).
HEADERS_THAT_MATTER = ("content-type", "etag", "location", "retry-after")


@pytest.fixture(scope="session")
def worker_python() -> Path:
    try:
        return ensure_worker_venv()
    except WorkerUnavailable as error:
        pytest.skip(f"Microsoft's Python worker (Python 3.13, .venv-worker) is not available: {error}")


class Worker:
    """tests/worker_driver.py in a process of its own: Microsoft's worker with an app's functions loaded."""

    def __init__(self, python: Path, root: Path, settings: dict[str, str]) -> None:
        env = {**os.environ, **settings}
        env.pop("PYTHONPATH", None)  # the suite's path would put this repository's `tests` before the worker's
        self.process = subprocess.Popen(
            [str(python), str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=root,
        )
        self.loaded = self.ask({"op": "load", "root": str(root)})

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the worker driver ended (exit {self.process.wait()})"
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def start_worker(python: Path, root: Path, azurite: str, table: str) -> Worker:
    return Worker(
        python,
        root,
        {
            "IMPORTEXPORT_STORAGE_CONNECTION": azurite,
            "IMPORTEXPORT_TABLE_NAME": table,
            "IMPORTEXPORT_RETENTION_DAYS": "90",
            "IMPORTEXPORT_CREATING_EXPIRY_DAYS": "14",
        },
    )


@pytest.fixture(scope="module")
def worker(worker_python, azurite) -> Worker:
    """The app's functions in the worker, over a table of its own in the session's Azurite."""
    running = start_worker(worker_python, ROOT, azurite, "Worker" + uuid.uuid4().hex[:12])
    yield running
    running.close()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def comparable(self) -> tuple:
        """What must agree: the status, the headers that matter (ETag by shape), whether a request id is sent,
        and the body (JSON-equal with times masked, else byte for byte)."""
        headers = {name: self.headers[name] for name in HEADERS_THAT_MATTER if name in self.headers}
        if "etag" in headers:
            headers["etag"] = re.sub(r"\d", "0", headers["etag"])  # its shape: the digits are a write's time
        content_type = self.headers.get("content-type", "")
        body: Any = self.body
        if "json" in content_type and self.body:
            body = mask_times(json.loads(self.body))
        return self.status, headers, "x-ms-request-id" in self.headers, body


def mask_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: mask_times(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_times(item) for item in value]
    return ISO_TIME.sub("<time>", value) if isinstance(value, str) else value


@dataclass
class Call:
    """One request as a client sends it, and the function the host routes it to."""

    method: str
    path: str
    function: str
    query: list[tuple[str, str]] = field(default_factory=lambda: [("api-version", API_VERSION)])
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, method: str, path: str, function: str, document: Any, **kwargs) -> "Call":
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return cls(method, path, function, headers=headers, body=json.dumps(document, ensure_ascii=False).encode(), **kwargs)

    @property
    def target(self) -> str:
        return self.path + ("?" + urlencode(self.query, safe="$") if self.query else "")

    def sent_headers(self, host: str) -> dict[str, str]:
        """Every header the client sends, in its casing: the same on both sides."""
        length = {"Content-Length": str(len(self.body))} if self.body or self.method in ("PUT", "POST", "PATCH") else {}
        return {"Host": host, **length, **self.headers}


def send_to_devhost(server: DevHost, call: Call) -> Answer:
    host = f"127.0.0.1:{server.server_address[1]}"
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    try:
        connection.putrequest(call.method, call.target, skip_host=True, skip_accept_encoding=True)
        for name, value in call.sent_headers(host).items():
            connection.putheader(name, value.encode())
        connection.endheaders(call.body or None)
        response = connection.getresponse()
        return Answer(response.status, {name.lower(): value for name, value in response.getheaders()}, response.read())
    finally:
        connection.close()


def route_values(template: str, path: str) -> dict[str, str]:
    """The values a route template takes from a path, as ASP.NET routing gives them to the host: literal segments
    match ignoring case, `{name}` takes one segment, `{*name}` the rest; values are percent-decoded."""
    names = template.strip("/").split("/") if template.strip("/") else []
    segments = path.strip("/").split("/")
    values = {}
    for index, name in enumerate(names):
        if name.startswith("{*"):
            values[name[2:-1]] = unquote("/".join(segments[index:]))
            return values
        assert index < len(segments), f"{path} is shorter than the route {template}"
        if name.startswith("{"):
            values[name[1:-1].split(":")[0].rstrip("?")] = unquote(segments[index])
        else:
            assert name.lower() == segments[index].lower(), f"{path} does not match the route {template}"
    assert len(segments) == len(names), f"{path} is longer than the route {template}"
    return values


def send_to_worker(worker: Worker, root: Path, call: Call, host: str) -> Answer:
    """The request as the host hands it to the worker: URL as the client addressed it, the query (names compare
    ignoring case, the first spelling kept, repeated values joined with ","), the route values."""
    spec = json.loads((root / call.function / "function.json").read_text())
    trigger = next(binding for binding in spec["bindings"] if binding["type"] == "httpTrigger")
    host_json = json.loads((root / "host.json").read_text())
    prefix = host_json.get("extensions", {}).get("http", {}).get("routePrefix", "api").strip("/")
    template = "/".join(part for part in (prefix, trigger.get("route") or call.function) if part)
    query: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in parse_qsl(call.target.partition("?")[2], keep_blank_values=True):
        query.setdefault(spelling.setdefault(name.lower(), name), []).append(value)
    answer = worker.ask(
        {
            "op": "http",
            "function": call.function,
            "trigger": trigger["name"],
            "request": {
                "method": call.method,
                "url": f"http://{host}{call.target}",
                "headers": call.sent_headers(host),
                "query": {name: ",".join(values) for name, values in query.items()},
                "params": route_values(template, call.path.split("?")[0]),
                "body": base64.b64encode(call.body).decode(),
            },
        }
    )
    assert answer["error"] is None, answer["error"]
    return Answer(
        int(answer["status"]), {name.lower(): value for name, value in answer["headers"]}, base64.b64decode(answer["body"])
    )


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


# A probe app: functions that show what they were handed, and answer in given shapes, loaded by both sides.
PROBE_HOST_JSON = {"version": "2.0", "extensions": {"http": {"routePrefix": "probe"}}}
PROBE_FUNCTIONS = {
    "probe_echo": (
        {"authLevel": "anonymous", "type": "httpTrigger", "direction": "in", "name": "req", "route": "echo/{first}/{*rest}"},
        """
import base64, json
import azure.functions as func

def main(req: func.HttpRequest) -> func.HttpResponse:
    seen = {"method": req.method, "url": req.url, "params": dict(req.params), "route_params": dict(req.route_params),
            "headers": dict(req.headers), "body": base64.b64encode(req.get_body()).decode()}
    return func.HttpResponse(json.dumps(seen), mimetype="application/json")
""",
    ),
    "probe_shape": (
        {"authLevel": "anonymous", "type": "httpTrigger", "direction": "in", "name": "req", "route": "shape/{kind}"},
        """
import azure.functions as func

SHAPES = {
    "json-with-charset": lambda: func.HttpResponse('{"a": 1}', mimetype="application/json", charset="utf-8"),
    "default-text": lambda: func.HttpResponse("plain words"),
    "html-latin-1": lambda: func.HttpResponse("caf\\u00e9", mimetype="text/html", charset="latin-1"),
    "empty-204": lambda: func.HttpResponse(status_code=204),
    "empty-200-with-header": lambda: func.HttpResponse(status_code=200, headers={"x-ms-request-id": "r"}),
    "explicit-content-type": lambda: func.HttpResponse(
        b"<a/>", headers={"Content-Type": "application/xml"}, mimetype="text/plain"
    ),
    "bytes": lambda: func.HttpResponse(b"\\x00\\xff", mimetype="application/octet-stream"),
    "location-and-retry-after": lambda: func.HttpResponse("{}", status_code=202, mimetype="application/json",
                                                          headers={"Location": "http://x/y", "Retry-After": "5"}),
}

def main(req: func.HttpRequest) -> func.HttpResponse:
    return SHAPES[req.route_params["kind"]]()
""",
    ),
}
PROBE_TIMER = (
    {"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": "0 */5 * * * *"},
    """
import json, logging
import azure.functions as func

def main(timer: func.TimerRequest) -> None:
    seen = {"past_due": timer.past_due, "schedule": timer.schedule, "schedule_status": timer.schedule_status}
    logging.getLogger("probe").info(json.dumps(seen, sort_keys=True))
""",
)
PROBE_SHAPES = [
    "json-with-charset",
    "default-text",
    "html-latin-1",
    "empty-204",
    "empty-200-with-header",
    "explicit-content-type",
    "bytes",
    "location-and-retry-after",
]


@pytest.fixture(scope="module")
def probe_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("probe_app")
    (root / "host.json").write_text(json.dumps(PROBE_HOST_JSON))
    for name, (trigger, source) in {**PROBE_FUNCTIONS, "probe_timer": PROBE_TIMER}.items():
        (root / name).mkdir()
        bindings = (
            [trigger, {"type": "http", "direction": "out", "name": "$return"}] if trigger["type"] == "httpTrigger" else [trigger]
        )
        (root / name / "function.json").write_text(json.dumps({"scriptFile": "__init__.py", "bindings": bindings}))
        (root / name / "__init__.py").write_text(source)
    return root


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


def through_both(call: Call, devhost: DevHost, worker: Worker, root: Path) -> tuple[Answer, Answer]:
    host = f"127.0.0.1:{devhost.server_address[1]}"
    return send_to_devhost(devhost, call), send_to_worker(worker, root, call, host)


@pytest.mark.parametrize("shape", PROBE_SHAPES)
def test_a_functions_response_is_sent_as_the_worker_sends_it(shape, probe_devhost, probe_worker, probe_root):
    # given a function that answers in this shape (mimetype, charset, headers, empty or not)
    call = Call("GET", f"/probe/shape/{shape}", "probe_shape", query=[])
    # when it is called through the dev host and through the worker
    through_devhost, through_worker = through_both(call, probe_devhost, probe_worker, probe_root)
    # then status, Content-Type (and the other headers that matter) and body agree
    assert through_devhost.comparable() == through_worker.comparable()


ECHO_CALLS = {
    "odd casing of the route's literal": Call("GET", "/PROBE/Echo/One/two/three", "probe_echo", query=[]),
    "percent-encoded route values": Call("GET", "/probe/echo/j%C3%B6b/a%20b/c", "probe_echo", query=[]),
    "query: repeated, odd casing, empty values, $ names": Call(
        "GET",
        "/probe/echo/a/b",
        "probe_echo",
        query=[("api-version", API_VERSION), ("$top", ""), ("$FILTER", "state eq 'x'"), ("$filter", "again"), ("flag", "")],
    ),
    "headers in any casing": Call(
        "PATCH",
        "/probe/echo/a/b",
        "probe_echo",
        query=[],
        headers={"If-Match": '"etag"', "X-MS-Client-Request-Id": "c-1", "content-type": "application/json"},
        body=b'{"x": 1}',
    ),
    "a unicode JSON body": Call.json("PUT", "/probe/echo/a/b", "probe_echo", {"name": "grå ß 漢字 🚚"}, query=[]),
    "an empty POST": Call("POST", "/probe/echo/a/b", "probe_echo", query=[]),
    "a DELETE": Call("DELETE", "/probe/echo/a/b", "probe_echo", query=[("api-version", API_VERSION)]),
    "a body that is not UTF-8": Call(
        "POST",
        "/probe/echo/a/b",
        "probe_echo",
        query=[],
        headers={"Content-Type": "application/octet-stream"},
        body=b"\xff\xfe\x00",
    ),
}


@pytest.mark.parametrize("case", list(ECHO_CALLS))
def test_a_function_is_handed_the_request_as_the_worker_hands_it(case, probe_devhost, probe_worker, probe_root):
    # given a function that answers with what it was handed: method, url, params, route_params, headers, body
    call = ECHO_CALLS[case]
    # when the request goes through the dev host and through the worker
    through_devhost, through_worker = through_both(call, probe_devhost, probe_worker, probe_root)
    # then the function saw the same request on both
    assert through_devhost.status == through_worker.status == 200
    assert json.loads(through_devhost.body) == json.loads(through_worker.body)


AT = datetime(2016, 10, 4, 10, 15, tzinfo=timezone.utc)
# The TimerInfo JSON the host sends, as the Functions documentation shows it, and the same moments as the dev
# host's scheduler holds them.
TIMER_INFOS = {
    "first run of a monitored timer": (
        {
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": {
                "Last": "0001-01-01T00:00:00",
                "Next": "2016-10-04T10:15:00+00:00",
                "LastUpdated": "0001-01-01T00:00:00",
            },
            "IsPastDue": False,
        },
        timer_request(past_due=False, status=ScheduleStatus(last=None, next=AT, last_updated=None)),
    ),
    "a later run, past due": (
        {
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": {
                "Last": "2016-10-04T10:15:00+00:00",
                "Next": "2016-10-04T10:20:00+00:00",
                "LastUpdated": "2016-10-04T10:16:00+00:00",
            },
            "IsPastDue": True,
        },
        timer_request(
            past_due=True,
            status=ScheduleStatus(last=AT, next=AT + timedelta(minutes=5), last_updated=AT + timedelta(minutes=1)),
        ),
    ),
    "an unmonitored timer": (
        {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": False},
        timer_request(past_due=False),
    ),
}


@pytest.mark.parametrize("case", TIMER_INFOS)
def test_a_timer_function_is_handed_the_timer_info_as_the_worker_hands_it(case, probe_devhost, probe_worker, probe_root, caplog):
    # given the host's TimerInfo JSON, and the dev host's timer argument for the same moments
    host_info, devhost_request = TIMER_INFOS[case]
    # when the probe timer runs through the worker and through the dev host's function loader
    through_worker = probe_worker.ask({"op": "timer", "function": "probe_timer", "trigger": "timer", "info": host_info})
    caplog.set_level("INFO", logger="probe")
    load_app(probe_root).functions["probe_timer"].invoke(devhost_request)
    through_devhost = [record.getMessage() for record in caplog.records if record.name == "probe"]
    # then the function saw the same past_due, schedule and schedule_status (strings, as JSON gives them)
    assert through_worker["error"] is None
    seen_by_worker = [message for name, _, message in through_worker["logs"] if name == "probe"]
    assert seen_by_worker == through_devhost and len(seen_by_worker) == 1


@pytest.fixture(scope="module")
def timer_worker(worker_python, azurite) -> Worker:
    """The app in the worker over an empty table of its own, so a purge's report depends on nothing else."""
    running = start_worker(worker_python, ROOT, azurite, "WorkerPurge" + uuid.uuid4().hex[:12])
    yield running
    running.close()


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
