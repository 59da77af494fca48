"""The headers App Service Authentication ("Easy Auth") owns: the caller it passes to the app, built from a token's
claims, and the stripping of any such header a client sent itself.

Easy Auth hands the app an authenticated caller in `X-MS-CLIENT-PRINCIPAL` (base64 of JSON: the identity provider,
which claim types hold the name and the roles, and every claim), with `-ID`, `-NAME` and `-IDP` beside it. The app
trusts these headers only because nothing but Easy Auth can set them: so the dev host removes every one a client
sent, on every request, whether its Easy Auth is on or off.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

PRINCIPAL_HEADER = "x-ms-client-principal"
PRINCIPAL_ID_HEADER = "x-ms-client-principal-id"
PRINCIPAL_NAME_HEADER = "x-ms-client-principal-name"
PRINCIPAL_IDP_HEADER = "x-ms-client-principal-idp"
IDENTITY_PROVIDER = "aad"
# Header names Easy Auth sets, by prefix: the principal headers and the token store's X-MS-TOKEN-{PROVIDER}-*.
PLATFORM_HEADER_PREFIXES = ("x-ms-client-principal", "x-ms-token-")

# The claim type .NET (and so Easy Auth) gives a JWT claim it knows by a short name; any other keeps its JWT name.
# The one table of the mapping (docs/operations.md shows it, under the dev host's Easy Auth).
CLAIM_TYPES = {
    "oid": "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "tid": "http://schemas.microsoft.com/identity/claims/tenantid",
    "scp": "http://schemas.microsoft.com/identity/claims/scope",
    "idp": "http://schemas.microsoft.com/identity/claims/identityprovider",
    "upn": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "sub": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
    "unique_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "given_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "family_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "acr": "http://schemas.microsoft.com/claims/authnclassreference",
    "amr": "http://schemas.microsoft.com/claims/authnmethodsreferences",
}
NAME_CLAIM_TYPE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
# Easy Auth's Entra ID principal names the role claim type by its JWT name: `roles` claims keep it.
ROLE_CLAIM_TYPE = "roles"
# The caller's id and name, as Easy Auth picks them: the first of these claims the token has.
ID_CLAIMS = ("oid", "sub")
NAME_CLAIMS = ("upn", "preferred_username", "email", "unique_name", "appid", "azp")


def is_platform_header(name: str) -> bool:
    """Whether a request header is one only Easy Auth may set. `_` counts as `-`: some frameworks read
    `X_MS_CLIENT_PRINCIPAL` as the same header (CGI-style names), so a client must not get one through that way."""
    return name.lower().replace("_", "-").startswith(PLATFORM_HEADER_PREFIXES)


def without_platform_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The request's headers less every one only Easy Auth may set (`is_platform_header`)."""
    return {name: value for name, value in headers.items() if not is_platform_header(name)}


def principal_headers(claims: Mapping[str, Any]) -> dict[str, str]:
    """The headers Easy Auth adds for a caller whose token carried `claims` (names in lower case, as the dev host
    hands every header to a function)."""
    principal = {
        "auth_typ": IDENTITY_PROVIDER,
        "name_typ": NAME_CLAIM_TYPE,
        "role_typ": ROLE_CLAIM_TYPE,
        "claims": [{"typ": CLAIM_TYPES.get(name, name), "val": value} for name, value in _claim_values(claims)],
    }
    headers = {
        PRINCIPAL_HEADER: base64.b64encode(json.dumps(principal, separators=(",", ":")).encode()).decode("ascii"),
        PRINCIPAL_IDP_HEADER: IDENTITY_PROVIDER,
    }
    caller_id = _first_text(claims, ID_CLAIMS)
    if caller_id is not None:
        headers[PRINCIPAL_ID_HEADER] = caller_id
    caller_name = _first_text(claims, NAME_CLAIMS)
    if caller_name is not None:
        headers[PRINCIPAL_NAME_HEADER] = caller_name
    return headers


def _claim_values(claims: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """One (name, text) per claim value: an array claim (`roles`, `groups`, `amr`) gives one per element."""
    for name, value in claims.items():
        for each in value if isinstance(value, list) else [value]:
            if each is not None:
                yield name, _as_text(each)


def _as_text(value: Any) -> str:
    """A claim value as the text Easy Auth writes: strings as they are, anything else as its JSON (true, 1700000000)."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _first_text(claims: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    return next((claims[name] for name in names if isinstance(claims.get(name), str) and claims[name]), None)
