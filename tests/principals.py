"""Callers as App Service Authentication passes them to the app: `X-MS-CLIENT-PRINCIPAL` and its companion headers.

A user signs in with delegated scopes (`scp`) and a user name; an application has neither; a managed identity is an
application whose token names its Azure resource (`xms_mirid`). Claim types are the long .NET names Easy Auth uses.
"""

from __future__ import annotations

import base64
import json
import uuid

OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
SCOPE = "http://schemas.microsoft.com/identity/claims/scope"
TENANT = "http://schemas.microsoft.com/identity/claims/tenantid"


def principal_headers(
    *roles: str,
    kind: str = "user",
    name: str | None = None,
    object_id: str | None = None,
    role_type: str = "roles",
) -> dict[str, str]:
    """The headers for a caller of `kind` (user, application, managed identity) holding the app roles `roles`."""
    object_id = object_id or str(uuid.uuid4())
    claims = [{"typ": OBJECT_ID, "val": object_id}, {"typ": TENANT, "val": "72f988bf-0000-0000-0000-000000000000"}]
    if kind == "user":
        name = name or "ada@contoso.example"
        claims += [{"typ": UPN, "val": name}, {"typ": SCOPE, "val": "user_impersonation"}]
    else:
        name = name or str(uuid.uuid4())
        claims.append({"typ": "appid", "val": name})
        if kind == "managed identity":
            claims.append({"typ": "xms_mirid", "val": "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/x"})
    claims += [{"typ": role_type, "val": role} for role in roles]
    principal = {"auth_typ": "aad", "name_typ": UPN, "role_typ": role_type, "claims": claims}
    return {
        "X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(principal).encode()).decode(),
        "X-MS-CLIENT-PRINCIPAL-ID": object_id,
        "X-MS-CLIENT-PRINCIPAL-NAME": name,
        "X-MS-CLIENT-PRINCIPAL-IDP": "aad",
    }
