"""The machinery of the worker fidelity tests: Microsoft's worker in a process of its own (tests/devhost/worker_driver.py),
a request sent to it and to the dev host alike, their answers made comparable; and a probe app that shows what its
functions are handed."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from devhost.server import DevHost
from devhost.timers import ScheduleStatus, timer_request

from ..builders import API_VERSION

DRIVER = Path(__file__).resolve().parent / "worker_driver.py"


ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")


# The response headers a client acts on; x-ms-request-id is compared by presence (a new id each time).
HEADERS_THAT_MATTER = ("content-type", "etag", "location", "retry-after")


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


def write_probe_app(root: Path) -> Path:
    """The probe app's host.json and function folders in `root`."""
    (root / "host.json").write_text(json.dumps(PROBE_HOST_JSON))
    for name, (trigger, source) in {**PROBE_FUNCTIONS, "probe_timer": PROBE_TIMER}.items():
        (root / name).mkdir()
        bindings = (
            [trigger, {"type": "http", "direction": "out", "name": "$return"}] if trigger["type"] == "httpTrigger" else [trigger]
        )
        (root / name / "function.json").write_text(json.dumps({"scriptFile": "__init__.py", "bindings": bindings}))
        (root / name / "__init__.py").write_text(source)
    return root


def through_both(call: Call, devhost: DevHost, worker: Worker, root: Path) -> tuple[Answer, Answer]:
    host = f"127.0.0.1:{devhost.server_address[1]}"
    return send_to_devhost(devhost, call), send_to_worker(worker, root, call, host)


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
