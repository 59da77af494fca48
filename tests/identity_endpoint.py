"""A managed identity's token endpoint of the tests' own, as App Service runs one for an app (IDENTITY_ENDPOINT and
IDENTITY_HEADER, api-version 2019-08-01), so that azure-identity's real `ManagedIdentityCredential` runs against it.

It answers with a JWT that Azurite's "basic" OAuth check takes (issuer `https://sts.windows.net/{tenant}/`, audience
the resource asked for, `iat`, `nbf`, `exp`; Azurite does not check the signature), and counts what it served.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
MANAGED_IDENTITY_CLIENT_ID = "0c4b2a1d-0000-4000-8000-00000000a11d"
# Any key: Azurite checks the token's claims, not its signature.
SIGNING_SECRET = secrets.token_hex(32)


def answer_json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """A JSON answer from a test server's request handler."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class IdentityEndpoint:
    """The token endpoint on 127.0.0.1; `environment` is what the app's process needs to use it.

    `audience`, when given, replaces the resource asked for in the tokens' `aud` (a token storage must refuse);
    with `hang`, it takes each request and never answers it.
    """

    def __init__(self, *, audience: str | None = None, hang: bool = False) -> None:
        self.audience = audience
        self.hang = hang
        self.release = threading.Event()
        self.header = secrets.token_hex(16)
        self.tokens_served = 0
        self.refused = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if endpoint.hang:
                    endpoint.release.wait(60)
                    return
                query = parse_qs(urlsplit(self.path).query)
                if self.headers.get("X-IDENTITY-HEADER") != endpoint.header or query.get("api-version") != ["2019-08-01"]:
                    endpoint.refused += 1
                    self.answer(400, {"error": "invalid_request", "error_description": "wrong identity header or api-version"})
                    return
                resource = query.get("resource", [""])[0]
                endpoint.tokens_served += 1
                self.answer(200, endpoint.token_response(resource, query.get("client_id", [None])[0]))

            def answer(self, status: int, body: dict[str, Any]) -> None:
                answer_json(self, status, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/msi/token"

    def token_response(self, resource: str, client_id: str | None) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": f"https://sts.windows.net/{TENANT}/",
            "aud": self.audience or resource,
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3600,
            "appid": client_id or MANAGED_IDENTITY_CLIENT_ID,
            "oid": "5e1f0000-0000-4000-8000-000000000001",
            "tid": TENANT,
            "xms_mirid": "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app",
        }
        token = jwt.encode(claims, SIGNING_SECRET, algorithm="HS256")
        return {"access_token": token, "expires_on": str(now + 3600), "resource": resource, "token_type": "Bearer"}

    @property
    def environment(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": self.header}

    @contextmanager
    def running(self) -> Iterator[IdentityEndpoint]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()
            thread.join()
