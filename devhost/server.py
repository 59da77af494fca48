"""The HTTP side of the dev host: routes requests to functions, checks keys, runs non-HTTP functions on demand."""

from __future__ import annotations

import logging
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.functions.timer import TimerRequest

from .config import Keys
from .functions import FunctionApp

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit
log = logging.getLogger("devhost")


class DevHost(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of new connections overflows it and some are reset.
    request_queue_size = 128

    def __init__(self, app: FunctionApp, address: tuple[str, int], keys: Keys) -> None:
        self.app = app
        self.keys = keys
        super().__init__(address, RequestHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffer each response so headers and body leave in one write (the base class flushes after each request),
    # and send it at once: with Nagle on, a second segment would wait for the client's delayed ACK (~40 ms).
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: DevHost

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug(format, *args)

    def _handle(self) -> None:
        started = time.perf_counter()
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._read_body()
        if body is None:
            return
        presented_key = self.headers.get("x-functions-key") or query.get("code")
        if url.path.lower().startswith("/admin/"):
            status = self._admin(url.path, presented_key, body)
        else:
            status = self._http_function(url.path, query, presented_key, body)
        log.info("%s %s -> %s in %.1f ms", self.command, url.path, status, (time.perf_counter() - started) * 1000)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._send(411, b"")
            return None
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._send(413, b"")
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _http_function(self, path: str, query: dict[str, str], presented_key: str | None, body: bytes) -> int:
        found = self.server.app.match(self.command, path)
        if not found:
            return self._send(405 if found is False else 404, b"")
        function, raw_route = found
        if not self.server.keys.allows(function.auth_level, presented_key):
            return self._send(401, b"")
        request = func.HttpRequest(
            method=self.command,
            url=self.server.base_url + self.path,
            headers=dict(self.headers.items()),
            params=query,
            route_params={name: unquote(value) for name, value in raw_route.items()},
            body=body,
        )
        try:
            response = function.invoke(request)
        except Exception:  # the host's boundary: an app's unhandled error is a bare 500, as in Azure
            log.exception("function %s failed", function.name)
            return self._send(500, b"")
        headers = dict(response.headers)
        body = response.get_body() or b""
        if body and response.mimetype and not any(name.lower() == "content-type" for name in headers):
            charset = f"; charset={response.charset}" if response.charset else ""
            headers["Content-Type"] = response.mimetype + charset
        return self._send(response.status_code, body, headers)

    def _admin(self, path: str, presented_key: str | None, body: bytes) -> int:
        """`POST /admin/functions/{name}` runs a non-HTTP function now, as the Functions host does."""
        if not self.server.keys.allows("admin", presented_key):
            return self._send(401, b"")
        parts = path.strip("/").split("/")
        if self.command != "POST" or len(parts) != 3 or parts[1].lower() != "functions":
            return self._send(404, b"")
        function = self.server.app.functions.get(parts[2])
        if function is None:
            return self._send(404, b"")
        if function.trigger_type != "timerTrigger":
            return self._send(400, b'{"error": "only timer functions can be run from the admin endpoint here"}')
        try:
            function.invoke(TimerRequest(past_due=False))
        except Exception:  # the host's boundary, as above
            log.exception("function %s failed", function.name)
            return self._send(500, b"")
        return self._send(202, b"")

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> int:
        self.send_response(status)
        for name, value in (headers or {}).items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status
