"""A small HTTP proxy in front of Azurite that can answer like a throttled or timing-out storage service.

It forwards every request to the real Azurite unless told to fail the next ones;
it counts what it saw, so tests can tell whether azure-core's policy retried.
"""

from __future__ import annotations

import threading
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError

FAULTS = {
    "ServerBusy": (503, "ServerBusy", "The server is currently unable to receive requests. Please retry your request."),
    "OperationTimedOut": (500, "OperationTimedOut", "The operation could not be completed within the permitted time."),
    # What Azure answers a request it cannot read, a continuation it never gave out among them (Azurite takes any).
    "InvalidInput": (400, "InvalidInput", "One of the request inputs is not valid."),
}


class StorageProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = f"http://127.0.0.1:{upstream_port}"
        self.lock = threading.Lock()
        self.failures_left = 0
        self.fault = "ServerBusy"
        self.seen: Counter = Counter()  # (method, status) of every answer it gave
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def fail_next(self, count: int, fault: str = "ServerBusy") -> None:
        with self.lock:
            self.failures_left, self.fault = count, fault
            self.seen.clear()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StorageProxy

    def log_message(self, *args) -> None:
        pass

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            failing = self.server.failures_left > 0
            if failing:
                self.server.failures_left -= 1
                status, code, message = FAULTS[self.server.fault]
        if failing:
            payload = f'{{"odata.error":{{"code":"{code}","message":{{"lang":"en-US","value":"{message}"}}}}}}'.encode()
            return self._answer(
                status, {"Content-Type": "application/json;odata=minimalmetadata", "x-ms-error-code": code}, payload
            )
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        request = urllib.request.Request(
            self.server.upstream + self.path, data=body or None, method=self.command, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return self._answer(answer.status, dict(answer.headers.items()), answer.read())
        except HTTPError as error:
            return self._answer(error.code, dict(error.headers.items()), error.read())

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_MERGE = _any

    def _answer(self, status: int, headers: dict, payload: bytes) -> None:
        with self.server.lock:
            self.server.seen[(self.command, status)] += 1
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
