"""The app on Azure as the Entra ID recipe deploys it, played here: the dev host in its own process serving HTTPS and
playing App Service Authentication for a token issuer of the tests' own, the app in `entra` mode behind it, over the
session's Azurite. Tests get tokens from the issuer with the roles they need (`token`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.devhost_process import DevHostProcess

from .devhost.identity import Certificate, Issuer, self_signed_certificate

TENANT = "11111111-2222-3333-4444-555555555555"
ISSUER_URL = f"https://sts.windows.net/{TENANT}/"
APP_ID_URI = "api://importexport-tests"
SCOPE = f"{APP_ID_URI}/.default"
ALL_ROLES = ("ImportExport.Contributor", "ImportExport.BitLockerKeyReader", "ImportExport.Operator")
# A role of the tests' own roles file, limited to these subscriptions (one for each client program).
LIMITED_ROLE = "Tests.LimitedSubscriptions"
LIMITED_SUBSCRIPTIONS = ("00000000-0000-0000-0000-00000000e1a1", "00000000-0000-0000-0000-00000000e1a2")


@dataclass
class EntraHost:
    """The HTTPS base URL of the app behind the dev host's Easy Auth, its certificate, and the issuer of its tokens."""

    base_url: str
    certificate: Certificate
    issuer: Issuer

    def token(self, *roles: str, application: bool = False, **changes: Any) -> str:
        """A valid token for the app holding `roles`: a user's, or an application's (no delegated scopes)."""
        caller: dict[str, Any] = {"roles": list(roles)}
        if application:
            user = dict.fromkeys(("scp", "upn", "preferred_username", "name"))
            caller.update(user, idtyp="app", appid=f"app-{uuid.uuid4().hex[:8]}")
        return self.issuer.token(**{**caller, **changes})

    def client_environment(self, token: str | None) -> dict[str, str]:
        """What a client program needs to call the app: trust in its certificate and, given one, its token."""
        trust = str(self.certificate.cert)
        environment = {"SSL_CERT_FILE": trust, "REQUESTS_CA_BUNDLE": trust, "NODE_EXTRA_CA_CERTS": trust}
        if token is not None:
            environment.update(CLIENT_TOKEN=token, CLIENT_SCOPE=SCOPE)
        return environment


def write_roles_file(folder: Path) -> Path:
    """The repository's roles and one limited to `LIMITED_SUBSCRIPTIONS`."""
    from shared.settings import DEFAULT_ROLES_FILE

    roles = json.loads(DEFAULT_ROLES_FILE.read_text())
    roles["roles"].append(
        {
            "name": LIMITED_ROLE,
            "actions": ["Microsoft.ImportExport/*"],
            "scopes": [f"/subscriptions/{subscription}" for subscription in LIMITED_SUBSCRIPTIONS],
        }
    )
    path = folder / "roles.json"
    path.write_text(json.dumps(roles))
    return path


@contextmanager
def entra_host(connection: str, folder: Path) -> Iterator[EntraHost]:
    """The dev host over HTTPS with Easy Auth on, serving the app in `entra` mode over the storage `connection`."""
    certificate = self_signed_certificate(folder)
    issuer = Issuer(url=ISSUER_URL, audience=APP_ID_URI)
    jwks = issuer.write_jwks(folder / "jwks.json")
    environment = {
        "IMPORTEXPORT_AUTH_MODE": "entra",
        "IMPORTEXPORT_ROLES_FILE": str(write_roles_file(folder)),
        "DEVHOST_AUTH_ISSUER": ISSUER_URL,
        "DEVHOST_AUTH_AUDIENCES": APP_ID_URI,
        "DEVHOST_AUTH_JWKS_FILE": str(jwks),
    }
    table = "Entra" + uuid.uuid4().hex[:12]
    arguments = ["--cert", str(certificate.cert), "--key", str(certificate.key)]
    with DevHostProcess(connection, table, environment=environment, arguments=arguments) as host:
        yield EntraHost(f"https://127.0.0.1:{host.port}", certificate, issuer)
