"""Reading the caller: a key holder in keys mode, else the Entra ID principal App Service Authentication passed in."""

from __future__ import annotations

import base64
import json

import pytest

from shared.api.callers import CallerReading, request_caller
from shared.domain.access import KEY_CALLER, AuthMode, CallerType
from shared.domain.errors import AuthenticationFailed

from ..principals import principal_headers

ENTRA = CallerReading(mode=AuthMode.ENTRA, easy_auth_enabled=True)


def test_keys_mode_ignores_principal_headers():
    # given a client that sends principal headers of its own to an app in keys mode
    headers = principal_headers("ImportExport.Contributor")
    # when the caller is read, then it is the key holder, whatever the headers say
    assert request_caller(headers, CallerReading(mode=AuthMode.KEYS, easy_auth_enabled=True)) is KEY_CALLER


@pytest.mark.parametrize("mode", [AuthMode.ENTRA, AuthMode.BOTH])
def test_principal_headers_are_not_read_where_the_platform_did_not_set_them(mode):
    # given Entra mode with no App Service Authentication in front (so any client could have sent the headers)
    with pytest.raises(AuthenticationFailed, match="not enabled"):
        request_caller(principal_headers("ImportExport.Contributor"), CallerReading(mode=mode, easy_auth_enabled=False))


def test_no_principal_is_401_asking_for_a_bearer_token():
    with pytest.raises(AuthenticationFailed) as refusal:
        request_caller({}, ENTRA)
    assert refusal.value.status == 401
    assert refusal.value.headers()["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "encoded",
    [
        "not base64!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[]").decode(),
        base64.b64encode(json.dumps({"claims": [{"typ": 1, "val": "x"}]}).encode()).decode(),
        "QQ==" * 20_000,
    ],
)
def test_an_unreadable_principal_is_401(encoded):
    with pytest.raises(AuthenticationFailed, match="cannot be read"):
        request_caller({"X-MS-CLIENT-PRINCIPAL": encoded}, ENTRA)


def test_a_user_is_named_by_their_user_principal_name():
    caller = request_caller(principal_headers("ImportExport.Reader", name="ada@contoso.example", object_id="o-1"), ENTRA)
    assert (caller.name, caller.type, caller.object_id) == ("ada@contoso.example", CallerType.USER, "o-1")
    assert caller.roles == {"ImportExport.Reader"}


def test_an_application_is_named_by_its_application_id():
    caller = request_caller(principal_headers("ImportExport.Reader", kind="application", name="app-id-1"), ENTRA)
    assert (caller.name, caller.type) == ("app-id-1", CallerType.APPLICATION)


def test_a_managed_identity_is_told_apart_from_an_application():
    caller = request_caller(principal_headers(kind="managed identity", name="mi-app-id"), ENTRA)
    assert (caller.name, caller.type) == ("mi-app-id", CallerType.MANAGED_IDENTITY)


def test_roles_are_read_from_the_claim_type_the_principal_names():
    headers = principal_headers("A", "B", role_type="http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
    assert request_caller(headers, ENTRA).roles == {"A", "B"}


def test_control_characters_in_a_name_cannot_forge_a_log_line():
    caller = request_caller(principal_headers(name="eve@contoso.example\n2026-12-04 FAKE LOG LINE"), ENTRA)
    assert "\n" not in caller.name and caller.name.startswith("eve@contoso.example?")
