"""HTTP on the wire, as the Functions host speaks it: framing (chunked bodies, pipelining, malformed requests), timeouts
and limits, the host's own errors as JSON, keep-alive and concurrency, and the URL and query a function is given."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest
import requests

from devhost.functions import load_app
from devhost.server import DevHost, Keys
from scripts.azurite import ROOT

from ..harness import (
    READ_TIMEOUT,
    assert_dev_host_error,
    connect,
    exchange,
    hosting,
    read_response,
    serving,
)


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


# --- HTTP on the wire: framing, the host's own error answers, concurrency; raw sockets where framing is the point ---


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
    # host leaves it out for the Python worker (tests/devhost/test_worker_fidelity.py)
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
