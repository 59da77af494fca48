"""The headers Easy Auth passes a caller in, built from a token's claims, and the stripping of those a client sent."""

from __future__ import annotations

import pytest

from devhost.principal import principal_headers, without_platform_headers

from .identity import USER_CLAIMS, principal_of


def claims_of(headers: dict[str, str]) -> list[tuple[str, str]]:
    return [(claim["typ"], claim["val"]) for claim in principal_of(headers)["claims"]]


def test_the_principal_names_the_provider_and_the_name_and_role_claim_types():
    # when a user's claims become Easy Auth's principal
    principal = principal_of(principal_headers(USER_CLAIMS))
    # then it says Entra ID (aad), and where the name and the roles are, as Easy Auth's principal for Entra ID does
    assert principal["auth_typ"] == "aad"
    assert principal["name_typ"] == "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
    assert principal["role_typ"] == "roles"


def test_an_array_claim_is_one_claim_per_value():
    # when the token has two roles
    claims = claims_of(principal_headers({"roles": ["Jobs.Reader", "Jobs.Operator"]}))
    # then the principal has two roles claims, one each, under the role claim type
    assert claims == [("roles", "Jobs.Reader"), ("roles", "Jobs.Operator")]


@pytest.mark.parametrize(
    "name,claim_type",
    [
        ("oid", "http://schemas.microsoft.com/identity/claims/objectidentifier"),
        ("tid", "http://schemas.microsoft.com/identity/claims/tenantid"),
        ("upn", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"),
        ("scp", "http://schemas.microsoft.com/identity/claims/scope"),
        ("email", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"),
        ("sub", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"),
        ("name", "name"),
        ("preferred_username", "preferred_username"),
        ("appid", "appid"),
    ],
)
def test_a_well_known_claim_gets_the_claim_type_easy_auth_gives_it(name, claim_type):
    # when a token has the claim, then the principal has it under .NET's long type (or its own name if it has none)
    assert claims_of(principal_headers({name: "value"})) == [(claim_type, "value")]


def test_values_that_are_not_strings_are_written_as_json_text():
    claims = claims_of(principal_headers({"exp": 1700000000, "email_verified": True, "cnf": {"kid": "k"}, "x": None}))
    assert claims == [("exp", "1700000000"), ("email_verified", "true"), ("cnf", '{"kid":"k"}')]


def test_the_id_name_and_idp_headers_name_the_caller():
    headers = principal_headers(USER_CLAIMS)
    assert headers["x-ms-client-principal-id"] == USER_CLAIMS["oid"]
    assert headers["x-ms-client-principal-name"] == USER_CLAIMS["upn"]
    assert headers["x-ms-client-principal-idp"] == "aad"


@pytest.mark.parametrize(
    "claims,caller_id,caller_name",
    [
        ({"sub": "s", "preferred_username": "p", "email": "e"}, "s", "p"),
        ({"sub": "s", "email": "e", "unique_name": "u"}, "s", "e"),
        ({"oid": "o", "unique_name": "u", "appid": "a"}, "o", "u"),
        ({"oid": "o", "appid": "a", "azp": "z"}, "o", "a"),
        ({"oid": "o", "azp": "z"}, "o", "z"),
    ],
)
def test_the_id_is_the_oid_else_the_sub_and_the_name_the_first_name_claim(claims, caller_id, caller_name):
    headers = principal_headers(claims)
    assert (headers["x-ms-client-principal-id"], headers["x-ms-client-principal-name"]) == (caller_id, caller_name)


def test_a_token_with_no_id_or_name_claim_gets_no_id_or_name_header():
    headers = principal_headers({"iss": "i", "aud": "a"})
    assert "x-ms-client-principal-id" not in headers and "x-ms-client-principal-name" not in headers


@pytest.mark.parametrize(
    "name",
    [
        "x-ms-client-principal",
        "X-MS-CLIENT-PRINCIPAL",
        "x-ms-client-principal-id",
        "X-Ms-Client-Principal-Name",
        "x-ms-client-principal-idp",
        "x_ms_client_principal",
        "x-ms-token-aad-access-token",
        "X-MS-TOKEN-AAD-ID-TOKEN",
    ],
)
def test_a_header_only_easy_auth_sets_is_stripped(name):
    headers = without_platform_headers({name: "forged", "authorization": "Bearer t", "x-ms-client-request-id": "r"})
    assert headers == {"authorization": "Bearer t", "x-ms-client-request-id": "r"}
