"""The dev host playing Easy Auth over HTTP: a valid bearer token reaches the function with the caller in Easy Auth's
headers; no token or a bad one is answered 401 by the host and the function never runs; headers only Easy Auth sets
never come from a client, with Easy Auth on or off; keys are checked as well, and /admin needs the master key only."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import requests

from devhost.easy_auth import EasyAuth
from devhost.server import Keys
from devhost.signing_keys import FileKeys
from devhost.tokens import CLOCK_SKEW_SECONDS, TokenValidator

from ..harness import exchange, serving
from .identity import AUDIENCE, ISSUER, USER_CLAIMS, Issuer, principal_of, unsigned_token

FUNCTION_KEY, MASTER_KEY = "fn-key", "master-key"


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="module")
def easy_auth(issuer, tmp_path_factory) -> EasyAuth:
    jwks = issuer.write_jwks(tmp_path_factory.mktemp("jwks") / "jwks.json")
    return EasyAuth(TokenValidator(issuer=ISSUER, audiences=(AUDIENCE,), keys=FileKeys(jwks)))


@pytest.fixture(scope="module")
def guarded(whoami, easy_auth):
    """The app behind Easy Auth, with keys on (Azure's "both": a function's key and Easy Auth)."""
    with serving(whoami.load(), keys=Keys(function_key=FUNCTION_KEY, master_key=MASTER_KEY), auth=easy_auth) as server:
        yield server


@pytest.fixture(scope="module")
def open_host(whoami):
    """The app without Easy Auth (and without keys), as `make run` serves it."""
    with serving(whoami.load()) as server:
        yield server


def call(server, whoami, *, token: str | None = None, path: str = "whoami/x", **headers: str) -> tuple[requests.Response, bool]:
    """A GET of `path` with a query of its own (so its call, if any, can be told apart); the answer and whether the
    function ran."""
    url = f"{server.base_url}/{path}?call={uuid.uuid4().hex}"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = requests.get(url, headers=headers, timeout=10)
    return response, url in whoami.calls


def assert_refused(response: requests.Response, *, token_sent: bool) -> dict:
    """Easy Auth's 401: a Bearer challenge (with `error="invalid_token"` only when a token was sent), a JSON error."""
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge == 'Bearer realm="127.0.0.1"' + (', error="invalid_token"' if token_sent else "")
    error = response.json()["error"]
    assert error["code"] == "Unauthorized"
    return error


# --- a valid token ---


def test_a_valid_token_reaches_the_function_with_the_caller_in_easy_auths_headers(guarded, whoami, issuer):
    # given a token the issuer signed for the app
    token = issuer.token()
    # when a route is called with it
    response, ran = call(guarded, whoami, token=token)
    # then the function ran and was handed the caller as Easy Auth hands it over, the token itself beside it
    assert response.status_code == 200 and ran
    headers = response.json()["headers"]
    assert headers["x-ms-client-principal-id"] == USER_CLAIMS["oid"]
    assert headers["x-ms-client-principal-name"] == USER_CLAIMS["upn"]
    assert headers["x-ms-client-principal-idp"] == "aad"
    assert headers["authorization"] == f"Bearer {token}"
    principal = principal_of(headers)
    roles = [claim["val"] for claim in principal["claims"] if claim["typ"] == principal["role_typ"]]
    assert roles == USER_CLAIMS["roles"]


def test_a_client_cannot_add_to_the_principal_of_a_valid_token(guarded, whoami, issuer):
    # given a valid token of a caller without roles, sent with principal headers of the client's own making
    token = issuer.token(roles=None, upn=None, preferred_username=None, azp=None)
    forged = {"X-MS-CLIENT-PRINCIPAL": "eyJmb3JnZWQiOnRydWV9", "X-MS-CLIENT-PRINCIPAL-NAME": "admin@contoso.example"}
    # when the route is called
    response, _ = call(guarded, whoami, token=token, **forged)
    # then the function sees only what the token says: no name header, no roles, nothing of the forgery
    headers = response.json()["headers"]
    assert "x-ms-client-principal-name" not in headers
    assert "roles" not in [claim["typ"] for claim in principal_of(headers)["claims"]]


# --- refusals, before any function runs ---


def test_a_request_without_a_token_is_refused_without_an_error_code(guarded, whoami):
    # when an anonymous-level route is called without a token (and with the function key, which is not enough)
    response, ran = call(guarded, whoami, **{"x-functions-key": FUNCTION_KEY})
    # then Easy Auth answers 401 with a bare challenge (RFC 6750: no error for a request that sent no credentials)
    error = assert_refused(response, token_sent=False)
    assert ISSUER in error["message"]
    assert not ran


@pytest.mark.parametrize(
    "make_token",
    [
        lambda issuer: issuer.token(exp=int(time.time()) - CLOCK_SKEW_SECONDS - 60),
        lambda issuer: issuer.token(nbf=int(time.time()) + CLOCK_SKEW_SECONDS + 60),
        lambda issuer: issuer.token(aud="api://someone-else"),
        lambda issuer: issuer.token(iss="https://login.microsoftonline.com/another-tenant/v2.0"),
        lambda issuer: unsigned_token(issuer.claims(), issuer.kid),
        lambda issuer: issuer.token()[:-8] + "AAAAAAAA",
        lambda issuer: issuer.token(header={"kid": "unknown"}),
        lambda issuer: "not-a-jwt",
    ],
    ids=["expired", "not-yet-valid", "wrong-audience", "wrong-issuer", "alg-none", "bad-signature", "unknown-kid", "malformed"],
)
def test_a_bad_token_is_refused_with_invalid_token_and_the_function_never_runs(guarded, whoami, issuer, make_token):
    # when a route is called with a token that fails one of Easy Auth's checks
    response, ran = call(guarded, whoami, token=make_token(issuer))
    # then Easy Auth answers 401 invalid_token itself, and the function was not called
    assert_refused(response, token_sent=True)
    assert not ran


def test_a_path_no_function_serves_is_refused_too(guarded, whoami):
    # Easy Auth stands in front of the Functions host: it refuses before any route is looked up
    response, _ = call(guarded, whoami, path="nothing/here")
    assert_refused(response, token_sent=False)


def test_the_realm_is_the_host_the_client_called(guarded):
    # when a client calls the host by a name of its own, with a port
    [(status, headers, _)] = exchange(guarded, b"GET /whoami/x HTTP/1.1\r\nHost: jobs.example:8443\r\n\r\n")
    # then the challenge names that host, without the port
    assert (status, headers["www-authenticate"]) == (401, 'Bearer realm="jobs.example"')


def test_the_token_is_never_logged(guarded, whoami, issuer, caplog):
    # given a valid token and one that is refused
    good, bad = issuer.token(), issuer.token(aud="api://someone-else")
    # when both are sent, with the dev host logging at INFO
    with caplog.at_level(logging.DEBUG):
        call(guarded, whoami, token=good)
        call(guarded, whoami, token=bad)
    # then neither appears in any log line (the refusal is logged, by its reason)
    assert any("bearer token refused (WrongAudience)" in record.getMessage() for record in caplog.records)
    assert not any(good in record.getMessage() or bad in record.getMessage() for record in caplog.records)


# --- keys as well: Azure's "both" ---


def test_a_function_level_route_needs_its_key_as_well_as_a_token(guarded, whoami, issuer):
    # when the function-level route is called with a valid token and no key, then with both
    without_key, ran_without = call(guarded, whoami, token=issuer.token(), path="keyed")
    with_key, ran_with = call(guarded, whoami, token=issuer.token(), path="keyed", **{"x-functions-key": FUNCTION_KEY})
    # then the token alone is the host's key refusal (no Bearer challenge); both together reach the function
    assert without_key.status_code == 401 and "WWW-Authenticate" not in without_key.headers
    assert with_key.status_code == 200 and ran_with


def test_a_function_key_without_a_token_is_refused_by_easy_auth(guarded, whoami):
    # when the function-level route is called with its key and no token
    response, ran = call(guarded, whoami, path="keyed", **{"x-functions-key": FUNCTION_KEY})
    # then Easy Auth refuses it before the key is looked at, and the function never runs
    assert_refused(response, token_sent=False)
    assert not ran


def test_the_admin_endpoint_needs_the_master_key_and_no_token(guarded, whoami):
    # when the timer is run through the admin endpoint without a token, first without a key, then with the master key
    url = f"{guarded.base_url}/admin/functions/{whoami.prefix}_tick"
    without_key = requests.post(url, json={}, timeout=10)
    with_key = requests.post(url, json={}, headers={"x-functions-key": MASTER_KEY}, timeout=10)
    # then the master key alone decides, as documented: 401 without it (no Bearer challenge), 202 with it
    assert without_key.status_code == 401 and "WWW-Authenticate" not in without_key.headers
    assert with_key.status_code == 202 and "tick" in whoami.calls


# --- Easy Auth's headers never come from a client ---


@pytest.mark.parametrize(
    "name",
    ["X-MS-CLIENT-PRINCIPAL", "x-ms-client-principal-id", "X-MS-CLIENT-PRINCIPAL-NAME", "X-MS-CLIENT-PRINCIPAL-IDP",
     "X-MS-TOKEN-AAD-ACCESS-TOKEN", "X_MS_CLIENT_PRINCIPAL"],
)  # fmt: skip
def test_without_easy_auth_a_clients_principal_header_is_stripped(open_host, whoami, name):
    # given the dev host without Easy Auth, as `make run` serves
    # when a client sends a header only Easy Auth may set
    response, ran = call(open_host, whoami, **{name: "eyJmb3JnZWQiOnRydWV9"})
    # then the function runs without it: an app that trusts these headers is never handed a client's own
    assert response.status_code == 200 and ran
    assert not [header for header in response.json()["headers"] if header.replace("_", "-").startswith("x-ms-client-principal")]
    assert "x-ms-token-aad-access-token" not in response.json()["headers"]
