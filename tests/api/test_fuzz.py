"""Hostile input: thousands of generated requests over the whole HTTP surface never get a 5xx or a stack trace."""

from __future__ import annotations

import base64
import json
import os
import socket
from datetime import timedelta, timezone

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SUBSCRIPTION = "00000000-0000-0000-0000-00000000f022"
# `make test` sends this many; `make fuzz` sets FUZZ_REQUESTS for a longer run.
GENERATED_REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "5000"))
FRAMING_REQUESTS = max(GENERATED_REQUESTS // 10, 100)
# The requests are sent in this many independent runs of equal size (together at least GENERATED_REQUESTS), so that
# parallel test workers share them; each run draws its own random requests, as one long run would.
SHARDS = 10
# The same sized runs against the app in Entra mode behind the dev host's Easy Auth.
ENTRA_SHARDS = 5
TEMPLATES = [
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ImportExport/jobs/{job}",
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ImportExport/jobs/{job}/listBitLockerKeys",
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ImportExport/jobs",
    "/subscriptions/{sub}/providers/Microsoft.ImportExport/jobs",
    "/operator/subscriptions/{sub}/resourceGroups/{rg}/jobs/{job}/state",
    "/providers/Microsoft.ImportExport/locations",
    "/providers/Microsoft.ImportExport/locations/{job}",
    "/providers/Microsoft.ImportExport/operations",
    "/{rg}/{job}",  # no operation's path: the catch-all's
]
LOCATIONS = ["westus", "West US", "WESTUS", "west us", "eastus", "atlantis", "ｗｅｓｔｕｓ", "West\u00a0US", ""]
NASTY = [
    "'",
    "''",
    '"',
    " or ",
    " eq ",
    "' or '1' eq '1",
    "..",
    "%2F",
    "%2e%2e",
    "%00",
    "%0A",
    "#",
    "?",
    "*",
    "ℍ",
    "а",
    "İ",
    "\u200b",
    "😀",
]
# Characters that Python's case mappings fold onto others but ARM's comparison does not (and some it does).
LOOK_ALIKES = ["\u212a", "k", "K", "\u212b", "å", "Å", "ß", "ẞ", "ss", "ı", "i", "I", "İ", "ſ", "s", "ς", "σ", "Σ"]
# Times at and past the edges of what `datetime` and the rules accept, in several offsets.
EXTREME_TIMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00-23:59",
    "0999-12-31T23:59:59Z",
    "1969-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z",
    "8999-12-31T23:59:59Z",
    "9000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59+23:59",
    "10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-11-26T24:00:00Z",
    "2026-11-26T00:00:00+24:00",
    "2026-11-26",
]
offsets = st.integers(min_value=-1439, max_value=1439).map(lambda minutes: timezone(timedelta(minutes=minutes)))
times = st.one_of(st.sampled_from(EXTREME_TIMES), st.datetimes(timezones=offsets).map(lambda moment: moment.isoformat()))

segment = st.one_of(
    st.sampled_from(["rg", "job-1", "JOB-1", SUBSCRIPTION, SUBSCRIPTION.upper(), "x" * 300]),
    st.lists(st.sampled_from(NASTY + LOOK_ALIKES + ["a", "b", "1", "-", "_", "."]), min_size=1, max_size=8).map("".join),
    st.text(min_size=1, max_size=20).map(lambda text: text.replace("/", "%2F").replace("?", "%3F").replace("#", "%23")),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=5),
    max_leaves=20,
)
known_fields = st.fixed_dictionaries(
    {},
    optional={
        "location": st.sampled_from(LOCATIONS) | json_values,
        "tags": json_values,
        "state": st.sampled_from(["Shipping", "Received", "Packaging", "Completed", "Closed", "shipping", ""]) | json_values,
        "at": st.sampled_from(["2026-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "not a time"]) | times | json_values,
        "properties": st.fixed_dictionaries(
            {},
            optional={
                "cancelRequested": json_values,
                "state": json_values,
                "storageAccountId": json_values,
                "jobType": st.sampled_from(["Import", "Export"]) | json_values,
                "returnAddress": json_values,
                "deliveryPackage": json_values
                | st.fixed_dictionaries(
                    {"carrierName": st.just("FedEx"), "trackingNumber": st.just("1"), "driveCount": st.just(1), "shipDate": times}
                ),
                "createdAt": times | json_values,
                "updatedAt": times,
                "stateChangedAt": times,
                "completedAt": times,
                "driveList": json_values,
                "shippingInformation": json_values | st.fixed_dictionaries({"recipientName": st.text(max_size=30)}),
                # Other spellings of the API's names (Python's snake_case, other casings), with values the API takes.
                "encryption_key": st.just({"kekType": "MicrosoftManaged"}) | json_values,
                "backup_drive_manifest": st.booleans(),
                "cancel_requested": st.booleans(),
                "storage_account_id": st.text(max_size=30),
                "log_level": st.sampled_from(["Verbose", "Error"]),
                "drive_list": st.just([{"driveId": "D"}]),
                "CancelRequested": st.booleans(),
                "BACKUPDRIVEMANIFEST": st.booleans(),
                # Near storage's limits in its own units (UTF-16): astral characters count two there, one in Python.
                "diagnosticsPath": st.text(
                    st.characters(min_codepoint=0x1F600, max_codepoint=0x1F64F), min_size=100, max_size=1100
                ),
            },
        ),
    },
)
# $filter values: the grammar's conditions (in any casing, with quotes and OData inside values) and pieces of text
# from outside it, joined at random.
filter_words = st.sampled_from(
    [
        "type",
        "TYPE",
        "trackingnumber",
        "state",
        "State",
        "name",
        "eq",
        "EQ",
        "ne",
        "and",
        "AND",
        "or",
        "not",
        "(",
        ")",
        "'",
        "''",
        ",",
    ]
)
filter_values = st.sampled_from(["Import", "export", "Creating", "SHIPPING", "Closed", "Lost", "", "1Z-ABC"]) | st.sampled_from(
    NASTY + LOOK_ALIKES
)
filter_conditions = st.tuples(st.sampled_from(["type", "trackingnumber", "state", "TrackingNumber"]), filter_values).map(
    lambda pair: f"{pair[0]} eq '{pair[1].replace(chr(39), chr(39) * 2)}'"
)
filters = st.one_of(
    st.lists(filter_conditions, min_size=1, max_size=4).map(" and ".join),
    st.lists(filter_conditions | filter_words | st.sampled_from(NASTY), min_size=1, max_size=8).map(" ".join),
    st.text(max_size=30),
)
# Skip tokens of this app's shape (base64 of its JSON) for the subscription's listing, with continuation values of any
# content (lone surrogates, control characters, emoji, numbers, nothing), beside random text.
continuation_values = st.one_of(
    st.none(),
    st.integers(),
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "So", "Lo", "Nd"]), max_size=40),
    st.text(max_size=1200),
)
our_shape_tokens = st.builds(
    lambda partition, row, scope: (
        base64.urlsafe_b64encode(json.dumps({"PartitionKey": partition, "RowKey": row, "Scope": scope}).encode())
        .decode()
        .rstrip("=")
    ),
    st.one_of(st.just(SUBSCRIPTION.lower()), continuation_values),
    continuation_values,
    st.sampled_from([f"{SUBSCRIPTION.lower()}/", f"{SUBSCRIPTION.lower()}/rg:", "x"]),
)
skip_tokens = st.one_of(our_shape_tokens, st.text(max_size=30))
query_values = {"$filter": filters, "$FILTER": filters, "$skipToken": skip_tokens}

bodies = st.one_of(
    st.just(b""),
    known_fields.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)


# Who the generated requests come from in Entra mode (behind the dev host's Easy Auth): no token, a token of
# random roles, one that fails a check, and principal headers of the client's own making.
ROLE_SETS = [(), ("ImportExport.Reader",), ("ImportExport.Contributor", "ImportExport.Operator"), ("Some.Other",)]
CALLERS = ["none", "roles", "roles", "roles", "garbage", "expired", "spoofed principal"]


def entra_headers(host, caller: str, roles: tuple[str, ...]) -> dict[str, str]:
    if caller == "roles":
        return {"Authorization": f"Bearer {host.token(*roles)}"}
    if caller == "garbage":
        return {"Authorization": "Bearer not.a.token"}
    if caller == "expired":
        return {"Authorization": f"Bearer {host.token(*roles, exp=1, nbf=0, iat=0)}"}
    if caller == "spoofed principal":
        return {"X-MS-CLIENT-PRINCIPAL": "eyJjbGFpbXMiOltdfQ==", "X-MS-CLIENT-PRINCIPAL-NAME": "mallory"}
    return {}


@pytest.fixture
def front(request):
    """Where the generated requests go: the session's dev host (keys mode, plain HTTP), or the app in Entra mode
    behind the dev host's HTTPS and Easy Auth."""
    if request.param == "keys":
        api = request.getfixturevalue("api")
        return api.base_url, api.http, None
    host = request.getfixturevalue("behind_easy_auth")
    session = requests.Session()
    session.trust_env = False
    session.verify = str(host.certificate.cert)
    return host.base_url, session, host


@pytest.mark.slow
@pytest.mark.parametrize(
    "front,shard",
    [("keys", shard) for shard in range(SHARDS)] + [("entra", shard) for shard in range(ENTRA_SHARDS)],
    indirect=["front"],
)
@settings(max_examples=-(-GENERATED_REQUESTS // SHARDS), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "POST"]),
    template=st.sampled_from(TEMPLATES),
    sub=st.one_of(st.just(SUBSCRIPTION), segment),
    rg=segment,
    job=st.one_of(segment, st.sampled_from(LOCATIONS)),
    api_version=st.sampled_from(["2021-01-01", "2016-11-01", "", "2021-01-01'", None]),
    extra_query=st.lists(
        st.sampled_from(["$top", "$skipToken", "$filter", "code", "$TOP", "$FILTER", "API-VERSION", "api-version"]).flatmap(
            lambda name: st.tuples(st.just(name), query_values.get(name, st.text(max_size=30)))
        ),
        max_size=3,
    ),
    content_encoding=st.sampled_from([None, None, None, "gzip", "identity", "br"]),
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "", "application/xml"]),
    if_match=st.sampled_from([None, "*", '"x"', "W/\"datetime'2020'\""]),
    body=bodies,
    caller=st.sampled_from(CALLERS),
    roles=st.sampled_from(ROLE_SETS),
)
def test_generated_requests_never_break_the_api(
    front,
    shard,
    method,
    template,
    sub,
    rg,
    job,
    api_version,
    extra_query,
    content_encoding,
    content_type,
    if_match,
    body,
    caller,
    roles,
):
    base_url, http, entra_host = front
    path = template.format(sub=sub, rg=rg, job=job)
    headers = {"Content-Type": content_type} if content_type else {}
    if if_match:
        headers["If-Match"] = if_match
    if content_encoding:
        headers["Content-Encoding"] = content_encoding
    if entra_host is not None:
        headers.update(entra_headers(entra_host, caller, roles))
    params = list(extra_query)
    if api_version is not None:
        params.append(("api-version", api_version))
    response = http.request(method, base_url + path, params=params, data=body, headers=headers, timeout=30)
    # never a server error, never internals
    assert response.status_code < 500, (method, path, response.status_code, response.text[:300])
    assert "Traceback" not in response.text and 'File "' not in response.text
    # the app's answers (every one with a body) are JSON; its errors are ARM error bodies
    if response.content:
        document = response.json()
        if response.status_code >= 400:
            assert set(document) == {"error"} and document["error"]["code"] and document["error"]["message"]
    else:
        assert method == "DELETE" and response.status_code == 200, (method, path, response.status_code)
    # behind Easy Auth, only a valid token gets past it, and a refusal is for the caller's roles
    if entra_host is not None and caller != "roles":
        assert response.status_code == 401, (caller, response.status_code, response.text[:200])
    if response.status_code == 403:
        assert response.json()["error"]["code"] == "AuthorizationFailed"


# Framing: what a request's head says about where its body ends, and bodies that do or do not match it.
FRAMING_HEADERS = [
    b"Content-Length: {length}",
    b"Content-Length: {wrong}",
    b"Content-Length: abc",
    b"Content-Length: -1",
    b"Content-Length: 1e3",
    b"Content-Length: {length}\r\nContent-Length: {wrong}",
    b"Content-Length: {length}, {length}",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: Chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, chunked",
    b"Transfer-Encoding: identity",
    b"Transfer-Encoding: xchunked",
    b"Transfer-Encoding: chunked\r\nContent-Length: {length}",
    b"",
]
JOB_PATH = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs/framed?api-version=2021-01-01"


def chunked(body: bytes, sizes: list[int], size_format: str) -> bytes:
    out, position = b"", 0
    for size in sizes:
        piece = body[position : position + size]
        position += size
        out += (size_format % len(piece)).encode() + b"\r\n" + piece + b"\r\n"
    return out + b"0\r\n\r\n"


@st.composite
def framed_requests(draw) -> bytes:
    body = draw(bodies)
    header = draw(st.sampled_from(FRAMING_HEADERS)).replace(b"{length}", str(len(body)).encode())
    header = header.replace(b"{wrong}", str(draw(st.integers(min_value=0, max_value=len(body) + 5))).encode())
    if b"chunked" in header.lower() and draw(st.booleans()):
        sizes = draw(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=8))
        body = chunked(body, sizes, draw(st.sampled_from(["%x", "%X", "%d", "%x;ext=1", "-%x", "%x  "])))
    head = [
        f"{draw(st.sampled_from(['PUT', 'PATCH', 'POST', 'GET']))} {draw(st.sampled_from([JOB_PATH, '/nowhere', '*']))} "
        f"{draw(st.sampled_from(['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 x']))}".encode()
    ]
    if draw(st.booleans()):
        head.append(b"Host: localhost")
    head += [b"Content-Type: application/json", header] if header else [b"Content-Type: application/json"]
    request = b"\r\n".join(head) + b"\r\n\r\n" + body
    # Sometimes a second, well-formed request on the same connection, which must not be misread.
    if draw(st.booleans()):
        request += b"GET " + JOB_PATH.encode() + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
    return request


def responses_in(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The HTTP/1.1 responses in what the connection carried back, in order."""
    found = []
    while data:
        head, separator, rest = data.partition(b"\r\n\r\n")
        assert separator, f"an incomplete response: {data[:200]!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        found.append((int(status_line.split()[1]), headers, rest[:length]))
        data = rest[length:]
    return found


@pytest.mark.slow
@settings(max_examples=FRAMING_REQUESTS, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=framed_requests())
def test_generated_framing_is_read_or_refused_with_an_arm_error(devhost, request):
    # given a request whose framing may be broken in any of the ways above
    host, port = devhost.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as connection:
        # when it is sent and the client says it has no more to send
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    # then every answer is a well-framed response: below 500, JSON, an ARM error body when it is an error; never HTML
    assert b"<html" not in data.lower() and b"Traceback" not in data
    for status, _headers, body in responses_in(data):
        assert status < 500, (request[:300], data[:300])
        if body:
            document = json.loads(body)
            if status >= 400:
                assert set(document) == {"error"} and document["error"]["code"] and document["error"]["message"]
