"""The dev host's HTTP server: one thread per connection (socketserver), HTTP/1.1 framing by h11.

h11 (a maintained HTTP/1.1 protocol library) decides where each request and its body begin and end:
Content-Length or chunked bodies, malformed framing, pipelined requests, keep-alive, HEAD. This module only
moves bytes between it and the socket, enforces the Functions host's limits, and answers what cannot be read
with a JSON ARM error. Thread-per-connection rather than a pooled server (waitress, cheroot): a pool hands
each request from a polling thread to a worker and back, which doubled a bare request's time here.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
from collections.abc import Iterable
from http.client import responses
from typing import Any

import h11

from .config import Keys
from .dispatch import Answer, Dispatcher, IncomingRequest
from .easy_auth import EasyAuth
from .functions import FunctionApp

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit; larger is 413
# A request line and headers still incomplete after this many bytes are a 431 (Kestrel, the Functions host's server,
# allows 32 KiB); h11 checks what it holds unparsed, so a larger block that arrives whole can still pass.
MAX_HEADER_BYTES = 32 * 1024
# A connection that sends nothing for this long is closed: a stalled request (a body shorter than its
# Content-Length) or an idle kept-alive connection, which clients reopen.
DEFAULT_READ_TIMEOUT_SECONDS = 30
RECEIVE_BYTES = 64 * 1024
log = logging.getLogger("devhost")


class RequestTooLarge(Exception):
    """The request's body is over MAX_REQUEST_BYTES (announced, or counted as chunks arrive)."""


class DevHost(socketserver.ThreadingTCPServer):
    """Serves a function app over HTTP on `address` (port 0 picks a free one) until `shutdown` or Ctrl-C; over HTTPS
    with a `tls` context, and behind Easy Auth with `auth` (`devhost.easy_auth`)."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of new connections overflows it and some are reset.
    request_queue_size = 128

    def __init__(
        self,
        app: FunctionApp,
        address: tuple[str, int],
        keys: Keys,
        read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
        *,
        tls: ssl.SSLContext | None = None,
        auth: EasyAuth | None = None,
    ) -> None:
        self.app = app
        self.keys = keys
        self.read_timeout = read_timeout
        self.tls = tls
        self.auth = auth
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Connection)
        if tls is not None:
            # Accepted connections come as TLS sockets whose handshake waits for the connection's own thread
            # (Connection.handle): a slow or broken client never holds up accept(), nor anyone else's connection.
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.dispatch = Dispatcher(app, keys, scheme=self.scheme, auth=auth)

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{authority(self.server_address)}"

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: tuple[Any, ...]) -> None:
        log.exception("connection from %s failed", client_address[0])


class Connection(socketserver.BaseRequestHandler):
    """One client connection: its requests in turn, for as long as both sides keep it open."""

    server: DevHost

    def setup(self) -> None:
        self.socket: socket.socket = self.request
        self.socket.settimeout(self.server.read_timeout)
        # Each answer leaves in one write; with Nagle on, a write after an unacknowledged one waits ~40 ms.
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        # Where this client reached the host: a specific address even when the host listens on 0.0.0.0 or ::.
        self.served_at = authority(self.socket.getsockname())

    def handle(self) -> None:
        if isinstance(self.socket, ssl.SSLSocket) and not self._handshake(self.socket):
            return
        try:
            while self._serve_one():
                self.http.start_next_cycle()
        except (TimeoutError, ConnectionError):
            pass  # a stalled or vanished client: there is no one to answer
        except ssl.SSLError as error:
            log.warning("TLS connection from %s broken: %s", self.client_address[0], tls_failure(error))

    def _handshake(self, connection: ssl.SSLSocket) -> bool:
        """The TLS handshake, within the read timeout; a client that fails it (plain http, a certificate it does not
        trust, an old protocol, silence) is one log line and a closed connection, never the server's problem."""
        try:
            connection.do_handshake()
        except OSError as error:  # ssl.SSLError, a reset, a timeout
            log.warning("TLS handshake with %s failed: %s", self.client_address[0], tls_failure(error))
            return False
        return True

    def _serve_one(self) -> bool:
        """Reads and answers one request; whether the connection can carry the next one."""
        try:
            request = self._next_request()
            if request is None:
                return False
            try:
                body = self._read_body(request)
            except TimeoutError:
                # Its head was read, so someone waits for an answer: say why it ends, as Kestrel does, then close.
                self._send(
                    Answer.error(408, f"The request's body did not arrive within {self.server.read_timeout:g} s."),
                    head=False,
                    close=True,
                )
                return False
        except h11.RemoteProtocolError as error:
            # Where an unreadable request ends cannot be known, so nothing after it on the connection can be read.
            # h11 hints 501 for a transfer coding it cannot read; the Functions host (Kestrel) answers 400 for a
            # final coding other than chunked, and a client error it is.
            status = 400 if error.error_status_hint == 501 else error.error_status_hint
            message = (
                "The request's headers are too large." if status == 431 else f"The request cannot be read: {in_words(error)}."
            )
            self._send(Answer.error(status, message), head=False, close=True)
            return False
        except RequestTooLarge:
            self._send(
                Answer.error(413, f"The request body is larger than the limit of {MAX_REQUEST_BYTES // 2**20} MiB."),
                head=False,
                close=True,
            )
            return False
        answer = self.server.dispatch(
            IncomingRequest(
                method=request.method.decode("ascii"),
                target=request.target.decode("ascii"),
                headers=joined_headers(request.headers),
                body=body,
                served_at=self.served_at,
            )
        )
        self._send(answer, head=request.method == b"HEAD")
        return self.http.our_state is h11.DONE and self.http.their_state is h11.DONE

    def _next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        while (event := self.http.next_event()) is h11.NEED_DATA:
            self._receive()
        return event

    def _receive(self) -> None:
        if self.http.they_are_waiting_for_100_continue:
            self.socket.sendall(self.http.send(h11.InformationalResponse(status_code=100, reason=b"Continue", headers=[])))
        self.http.receive_data(self.socket.recv(RECEIVE_BYTES))

    def _next_request(self) -> h11.Request | None:
        """The next request's head, or None when the client closed the connection between requests."""
        event = self._next_event()
        return event if isinstance(event, h11.Request) else None

    def _read_body(self, request: h11.Request) -> bytes:
        announced = next((int(value) for name, value in request.headers if name == b"content-length"), 0)
        if announced > MAX_REQUEST_BYTES:
            raise RequestTooLarge()  # refused before any of it is read
        body = bytearray()
        while (event := self.http.next_event()) is h11.NEED_DATA or isinstance(event, h11.Data):
            if isinstance(event, h11.Data):
                body += event.data
            # A chunk's size line announces its length: one that would pass the limit is refused before its data.
            if len(body) + chunk_bytes_due(self.http) > MAX_REQUEST_BYTES:
                raise RequestTooLarge()
            if event is h11.NEED_DATA:
                self._receive()
        return bytes(body)

    def _send(self, answer: Answer, head: bool, close: bool = False) -> None:
        """The answer in one write. A HEAD answer has the headers a GET would get, Content-Length included, and no body."""
        response = self._response(answer, close)
        if response is None:
            log.error("an answer with status %s has a header that cannot be sent (not Latin-1, or a line break)", answer.status)
            answer = Answer.error(500, "The function answered a header that cannot be sent.")
            response = self._response(answer, close)
            assert response is not None  # the 500's headers are ASCII
        data = self.http.send(response)
        if answer.body and not head and self._may_have_body(answer.status):
            data += self.http.send(h11.Data(data=answer.body))
        data += self.http.send(h11.EndOfMessage())
        self.socket.sendall(data)

    @staticmethod
    def _may_have_body(status: int) -> bool:
        return status >= 200 and status not in (204, 304)

    def _response(self, answer: Answer, close: bool) -> h11.Response | None:
        headers = list(answer.headers)
        if self._may_have_body(answer.status):
            headers.append(("Content-Length", str(len(answer.body))))
        if close:
            headers.append(("Connection", "close"))
        try:
            return h11.Response(
                status_code=answer.status,
                reason=responses.get(answer.status, "").encode("ascii"),
                headers=[(name.encode("ascii"), value.encode("latin-1")) for name, value in headers],
            )
        except (h11.LocalProtocolError, UnicodeEncodeError):
            return None


def chunk_bytes_due(connection: h11.Connection) -> int:
    """The bytes of the current chunk h11 still expects, as its size line announced them (0 outside a chunked body).

    h11 keeps this in its chunked reader and offers no public way to read it; were the name to change, this gives 0
    and the limit is still enforced as the data arrives, only later."""
    return getattr(getattr(connection, "_reader", None), "_bytes_in_chunk", 0)


# h11's messages for what it cannot read, some with the offending bytes as a Python repr; a client gets words.
_IN_WORDS = {
    "illegal chunk header": "a chunk size line is not a hexadecimal number (of at most 20 digits)",
    "malformed chunk footer": "a chunk's data does not end with CRLF where its size line says it does",
    "illegal request line": "the request line is not METHOD TARGET HTTP/1.x",
    "illegal header line": "a header line is not name: value",
    "illegal header name": "a header name has a character a name cannot have",
    "illegal header value": "a header value has a control character",
}


def in_words(error: h11.RemoteProtocolError) -> str:
    """What is wrong with a request h11 refused, without the reprs of bytes some of its messages carry."""
    message = str(error)
    return next((words for start, words in _IN_WORDS.items() if message.lower().startswith(start)), message)


# OpenSSL's reasons for the handshake failures a dev host meets, in words.
_TLS_FAILURES = {
    "HTTP_REQUEST": "the client sent plain http to this https port",
    "TLSV1_ALERT_UNKNOWN_CA": "the client does not trust the certificate's issuer",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the client does not accept the certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the client does not accept the certificate",
    "UNSUPPORTED_PROTOCOL": "the client offered only TLS older than 1.2",
    "UNEXPECTED_EOF_WHILE_READING": "the client closed the connection",
}


def tls_failure(error: OSError) -> str:
    """What went wrong in a TLS exchange, in words, with OpenSSL's reason."""
    reason = getattr(error, "reason", None)
    if isinstance(error, TimeoutError):
        return "the client sent nothing in time"
    words = _TLS_FAILURES.get(reason or "")
    if words is not None:
        return f"{words} ({reason})" if reason != "HTTP_REQUEST" else words
    return str(reason or error.strerror or error)


def authority(address: tuple[Any, ...]) -> str:
    """host:port of a socket address (IPv6 adds flow and scope), an IPv6 host in brackets as in a URL."""
    host, port = address[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def joined_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names in lower case; a repeated header's values joined with "," as the Functions host joins them."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key, text = name.decode("ascii"), value.decode("latin-1")
        joined[key] = f"{joined[key]},{text}" if key in joined else text
    return joined
