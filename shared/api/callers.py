"""Who sent a request: a Functions key holder, or the Entra ID principal App Service Authentication passed in.

On Azure, App Service Authentication ("Easy Auth") validates the caller's bearer token before the request reaches
the app and passes the caller in `X-MS-CLIENT-PRINCIPAL` (base64 JSON: `auth_typ`, `name_typ`, `role_typ`,
`claims[{typ, val}]`) and `X-MS-CLIENT-PRINCIPAL-ID`/`-NAME`/`-IDP`. Those headers are the platform's only where
it runs (`WEBSITE_AUTH_ENABLED`); anywhere else a client could have sent them, so they are never read there.
The token itself is never read, stored or logged here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..domain.access import KEY_CALLER, AuthMode, Caller, CallerType
from ..domain.errors import AuthenticationFailed

PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
PRINCIPAL_ID_HEADER = "X-MS-CLIENT-PRINCIPAL-ID"
PRINCIPAL_NAME_HEADER = "X-MS-CLIENT-PRINCIPAL-NAME"
# A principal header is a few kilobytes (a token's claims); more than this is not one Easy Auth made.
MAX_PRINCIPAL_CHARS = 64 * 1024

# Claim types as Easy Auth passes them: .NET's long names for the token's short ones, and the short ones too.
OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
SCOPE_CLAIMS = ("http://schemas.microsoft.com/identity/claims/scope", "scp")
ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
APP_ID_CLAIMS = ("appid", "azp")
USER_NAME_CLAIMS = (
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "upn",
    "preferred_username",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "email",
    "unique_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "name",
)
# `idtyp` (app or user) is an optional claim; without it, a token with no delegated scopes is an application's.
TOKEN_KIND_CLAIM = "idtyp"
# Only managed identities' tokens carry the identity's Azure resource id.
MANAGED_IDENTITY_CLAIM = "xms_mirid"


@dataclass(frozen=True)
class CallerReading:
    """How the app reads callers: by the auth mode, and whether Easy Auth is in front of it."""

    mode: AuthMode
    easy_auth_enabled: bool


def request_caller(headers: Mapping[str, str], reading: CallerReading) -> Caller:
    """The request's caller; `AuthenticationFailed` (401) when Entra ID callers are expected and there is none."""
    if not reading.mode.takes_entra_callers:
        return KEY_CALLER  # the host checked the key; principal headers are not this mode's
    if not reading.easy_auth_enabled:
        raise AuthenticationFailed(
            "Authentication failed: this app takes Entra ID callers through App Service Authentication, "
            "which is not enabled in front of it."
        )
    encoded = headers.get(PRINCIPAL_HEADER)
    if not encoded:
        raise AuthenticationFailed("Authentication failed. The 'Authorization' header is missing.")
    claims = _claims(encoded)
    return _caller(claims, headers)


def _claims(encoded: str) -> dict[str, list[str]]:
    invalid = AuthenticationFailed("Authentication failed. The caller's principal cannot be read.")
    if len(encoded) > MAX_PRINCIPAL_CHARS:
        raise invalid
    try:
        principal: Any = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as error:
        raise invalid from error
    if not isinstance(principal, dict) or not isinstance(principal.get("claims"), list):
        raise invalid
    role_type = principal.get("role_typ")
    claims: dict[str, list[str]] = {}
    for claim in principal["claims"]:
        if not isinstance(claim, dict) or not isinstance(claim.get("typ"), str) or not isinstance(claim.get("val"), str):
            raise invalid
        kind = "roles" if claim["typ"] == role_type else claim["typ"]
        claims.setdefault(kind, []).append(claim["val"])
    return claims


def _first(claims: Mapping[str, list[str]], kinds: tuple[str, ...]) -> str | None:
    return next((values[0] for kind in kinds if (values := claims.get(kind)) and values[0]), None)


def _caller(claims: Mapping[str, list[str]], headers: Mapping[str, str]) -> Caller:
    roles = frozenset(value for kind in ROLE_CLAIMS for value in claims.get(kind, ()))
    object_id = _first(claims, OBJECT_ID_CLAIMS) or headers.get(PRINCIPAL_ID_HEADER) or None
    kind = _first(claims, (TOKEN_KIND_CLAIM,))
    is_app = kind == "app" or (kind != "user" and _first(claims, SCOPE_CLAIMS) is None)
    if is_app:
        # ARM records an application by its application (client) id.
        name = _first(claims, APP_ID_CLAIMS) or object_id or "unknown application"
        caller_type = CallerType.MANAGED_IDENTITY if _first(claims, (MANAGED_IDENTITY_CLAIM,)) else CallerType.APPLICATION
    else:
        name = _first(claims, USER_NAME_CLAIMS) or headers.get(PRINCIPAL_NAME_HEADER) or object_id or "unknown user"
        caller_type = CallerType.USER
    return Caller(name=_printable(name)[:256], type=caller_type, object_id=_printable(object_id)[:128] or None, roles=roles)


def _printable(text: str | None) -> str:
    # A name is logged and stored: a claim a user may set (email, name) must not forge a log line or hide in one.
    return "".join(character if character.isprintable() else "?" for character in text or "")
