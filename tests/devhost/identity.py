"""The Easy Auth tests' machinery: a token issuer of their own (RSA keys made at test time, its JWKS, tokens it
signs), a tiny OpenID Connect provider that publishes its keys over HTTP, a self-signed TLS certificate, and an app
whose functions report what Easy Auth handed them and record each call."""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devhost.functions import FunctionApp, load_app

# The certificate and keys are made as the local issuer script makes them.
from scripts.dev_issuer import Certificate as Certificate
from scripts.dev_issuer import rsa_key as rsa_key
from scripts.dev_issuer import self_signed_certificate as self_signed_certificate

from ..identity_endpoint import answer_json

ISSUER = "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0"
AUDIENCE = "api://importexport-dev"
# A user's claims as Entra ID puts them in an access token (v2.0), with two app roles.
USER_CLAIMS = {
    "oid": "aaaaaaaa-0000-0000-0000-000000000001",
    "tid": "11111111-2222-3333-4444-555555555555",
    "sub": "subject-of-ada",
    "upn": "ada@contoso.example",
    "preferred_username": "ada@contoso.example",
    "name": "Ada Lovelace",
    "scp": "Jobs.Read Jobs.Write",
    "roles": ["Jobs.Reader", "Jobs.Operator"],
    "azp": "client-app-id",
    "ver": "2.0",
}


class Issuer:
    """Signs tokens as an Entra ID tenant would: RS256 with a key whose `kid` its JWKS publishes."""

    def __init__(self, url: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.url = url
        self.audience = audience
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.kid = self.add_key()

    def add_key(self) -> str:
        """A new signing key (a rotation): later tokens are signed with it; its kid."""
        self.kid = f"key-{uuid.uuid4().hex[:8]}"
        self.keys[self.kid] = rsa_key()
        return self.kid

    def jwks(self) -> dict[str, Any]:
        """The issuer's JWKS document, as Entra's discovery/v2.0/keys has it (public keys, use sig, by kid)."""
        keys = []
        for kid, key in self.keys.items():
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": keys}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()))
        return path

    def claims(self, **changes: Any) -> dict[str, Any]:
        """A valid token's claims (the user's, valid for an hour from a minute ago) with `changes`; None drops one."""
        now = int(time.time())
        claims = {"iss": self.url, "aud": self.audience, "iat": now - 60, "nbf": now - 60, "exp": now + 3600, **USER_CLAIMS}
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, *, kid: str | None = None, header: dict[str, Any] | None = None, **changes: Any) -> str:
        """A token signed with the current key (or `kid`'s), of `claims(**changes)`, with extra `header` fields."""
        kid = kid or self.kid
        return jwt.encode(self.claims(**changes), self.keys[kid], algorithm="RS256", headers={"kid": kid, **(header or {})})

    def public_pem(self) -> bytes:
        return (
            self.keys[self.kid]
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def unsigned_token(claims: dict[str, Any], kid: str) -> str:
    """A token with `alg: none` and no signature, as an attacker would send one."""
    return f"{b64url_json({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64url_json(claims)}."


def principal_of(headers: dict[str, str]) -> dict[str, Any]:
    """The JSON in an X-MS-CLIENT-PRINCIPAL header (base64), as an app decodes it."""
    return json.loads(base64.b64decode(headers["x-ms-client-principal"]))


# --- an OpenID Connect provider of the tests' own ---


class OpenIdProvider:
    """Serves an issuer's OpenID Connect metadata and JWKS on 127.0.0.1, as Entra ID serves a tenant's; counts the JWKS
        fetches. `issuer_url` is the issuer whose metadata it serves (`{issuer_url}/.well-known/openid-configuration`); the
    issuer `{base_url}/no-keys` has metadata that names no keys."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.jwks_fetches = 0
        self.down = False
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if provider.down:
                    self.send_error(503)
                    return
                if self.path == "/tenant/v2.0/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer_url, "jwks_uri": f"{provider.base_url}/tenant/discovery/v2.0/keys"}
                elif self.path == "/no-keys/.well-known/openid-configuration":
                    body = {"issuer": f"{provider.base_url}/no-keys"}
                elif self.path == "/tenant/discovery/v2.0/keys":
                    provider.jwks_fetches += 1
                    body = provider.jwks
                else:
                    self.send_error(404)
                    return
                answer_json(self, 200, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer_url = f"{self.base_url}/tenant/v2.0"

    @contextmanager
    def running(self) -> Iterator[OpenIdProvider]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join()


# --- an app that reports what it was handed ---

WHOAMI_FUNCTION = """
import json
import os
from pathlib import Path

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    with open(Path(__file__).resolve().parent.parent / "calls.log", "a") as calls:
        calls.write(req.url + "\\n")
    seen = {"url": req.url, "headers": dict(req.headers), "auth_enabled": os.environ.get("WEBSITE_AUTH_ENABLED")}
    return func.HttpResponse(json.dumps(seen), mimetype="application/json")
"""

TICK_FUNCTION = """
from pathlib import Path


def main(timer):
    with open(Path(__file__).resolve().parent.parent / "calls.log", "a") as calls:
        calls.write("tick\\n")
"""


@dataclass(frozen=True)
class WhoamiApp:
    """An app folder whose functions answer with what they were handed and log each call to `calls.log`: `whoami`
    (anonymous, `whoami/{*rest}`), `keyed` (function key, `keyed`) and `tick` (a timer that never fires by itself)."""

    root: Path
    prefix: str  # the function folders' names start with it, unique per app so imports never collide

    @property
    def calls(self) -> list[str]:
        log = self.root / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def load(self) -> FunctionApp:
        return load_app(self.root)


def write_whoami_app(root: Path) -> WhoamiApp:
    prefix = f"who_{uuid.uuid4().hex[:8]}"
    (root / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}))
    out = {"type": "http", "direction": "out", "name": "$return"}
    http = {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["get", "post"]}
    functions = {
        "whoami": ([{**http, "authLevel": "anonymous", "route": "whoami/{*rest}"}, out], WHOAMI_FUNCTION),
        "keyed": ([{**http, "authLevel": "function", "route": "keyed"}, out], WHOAMI_FUNCTION),
        "tick": ([{"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": "0 0 0 1 1 *"}], TICK_FUNCTION),
    }
    for name, (bindings, code) in functions.items():
        folder = root / f"{prefix}_{name}"
        folder.mkdir()
        (folder / "function.json").write_text(json.dumps({"bindings": bindings}))
        (folder / "__init__.py").write_text(code)
    return WhoamiApp(root, prefix)


@contextmanager
def importable(root: Path) -> Iterator[None]:
    """The app's function folders importable by name, as `python -m devhost` puts its root on sys.path."""
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
