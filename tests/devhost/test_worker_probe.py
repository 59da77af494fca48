"""A probe app's functions through Microsoft's worker and through the dev host: each is handed the same request (method,
URL, query, route values, headers, body) or timer info, and its answers, in every shape, are sent alike."""

from __future__ import annotations

import json

import pytest

from devhost.functions import load_app

from ..builders import API_VERSION
from .fidelity import TIMER_INFOS, Call, through_both

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
