"""Bearer token validation as Easy Auth does it, without a server: signature by kid, RS256 only, issuer, audience,
lifetime with Easy Auth's clock skew; and the Authorization header read as RFC 6750 says."""

from __future__ import annotations

import hashlib
import hmac
import time

import jwt
import pytest

from devhost.easy_auth import Caller, EasyAuth, Refused
from devhost.signing_keys import FileKeys
from devhost.tokens import (
    CLOCK_SKEW_SECONDS,
    BadSignature,
    MalformedToken,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
    TokenRejected,
    TokenValidator,
    UnknownSigningKey,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
)

from .identity import AUDIENCE, ISSUER, USER_CLAIMS, Issuer, b64url, b64url_json, rsa_key, unsigned_token


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="module")
def validator(issuer, tmp_path_factory) -> TokenValidator:
    jwks = issuer.write_jwks(tmp_path_factory.mktemp("jwks") / "jwks.json")
    return TokenValidator(issuer=ISSUER, audiences=("api://other", AUDIENCE), keys=FileKeys(jwks))


def test_a_valid_token_gives_its_claims(issuer, validator):
    # given a token the issuer signed for one of the allowed audiences, within its lifetime
    token = issuer.token()
    # when it is validated, then its claims come back as the token has them
    claims = validator.validate(token)
    assert claims["oid"] == USER_CLAIMS["oid"] and claims["roles"] == USER_CLAIMS["roles"] and claims["aud"] == AUDIENCE


def test_a_token_for_any_allowed_audience_passes(issuer, validator):
    assert validator.validate(issuer.token(aud="api://other"))["aud"] == "api://other"


def forged_hs256(issuer: Issuer) -> str:
    """HS256 with the issuer's public key as the HMAC secret: the classic key-confusion forgery (signed by hand: PyJWT
    refuses a PEM as an HMAC secret, as it should; an attacker uses the bytes all the same)."""
    signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'JWT', 'kid': issuer.kid})}.{b64url_json(issuer.claims())}"
    signature = hmac.new(issuer.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def other_key_same_kid(issuer: Issuer) -> str:
    return jwt.encode(issuer.claims(), rsa_key(), algorithm="RS256", headers={"kid": issuer.kid})


@pytest.mark.parametrize(
    "make_token,rejection",
    [
        (lambda issuer: issuer.token(exp=int(time.time()) - CLOCK_SKEW_SECONDS - 60), TokenExpired),
        (lambda issuer: issuer.token(nbf=int(time.time()) + CLOCK_SKEW_SECONDS + 60), TokenNotYetValid),
        (lambda issuer: issuer.token(aud="api://someone-else"), WrongAudience),
        (lambda issuer: issuer.token(iss=ISSUER + "/"), WrongIssuer),
        (lambda issuer: issuer.token(iss="https://sts.windows.net/11111111-2222-3333-4444-555555555555/"), WrongIssuer),
        (lambda issuer: unsigned_token(issuer.claims(), issuer.kid), UnsupportedAlgorithm),
        (forged_hs256, UnsupportedAlgorithm),
        (other_key_same_kid, BadSignature),
        (lambda issuer: issuer.token()[:-8] + "AAAAAAAA", BadSignature),
        (lambda issuer: issuer.token(header={"kid": "not-a-published-key"}), UnknownSigningKey),
        (lambda issuer: jwt.encode(issuer.claims(), issuer.keys[issuer.kid], algorithm="RS256"), UnknownSigningKey),
        (lambda issuer: issuer.token(exp=None), MissingClaim),
        (lambda issuer: issuer.token(aud=None), MissingClaim),
        (lambda issuer: "not.a.jwt", MalformedToken),
        (lambda issuer: "", MalformedToken),
        (lambda issuer: issuer.token(exp="tomorrow"), MalformedToken),
        (
            lambda issuer: f"{b64url_json({'alg': 'RS256', 'kid': ['a', 'list']})}.{b64url_json(issuer.claims())}.AAAA",
            MalformedToken,
        ),
        (lambda issuer: issuer.token(header={"crit": ["exp"]}), MalformedToken),
        (lambda issuer: issuer.token(exp=str(int(time.time()) + 3600)), MalformedToken),
        (lambda issuer: issuer.token(nbf=str(int(time.time()) - 60)), MalformedToken),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "wrong-audience",
        "issuer-with-a-trailing-slash",
        "another-issuer",
        "alg-none",
        "hs256-with-the-public-key",
        "signed-by-another-key",
        "tampered-signature",
        "unknown-kid",
        "no-kid",
        "no-exp",
        "no-aud",
        "not-a-jwt",
        "empty",
        "exp-not-a-number",
        "kid-not-text",
        "crit-header",
        "exp-digits-as-text",
        "nbf-digits-as-text",
    ],
)
def test_a_token_failing_a_check_is_refused_naming_it(issuer, validator, make_token, rejection):
    # given a token that fails one check
    token = make_token(issuer)
    # when it is validated, then it is refused with the rejection of that check
    with pytest.raises(TokenRejected) as refused:
        validator.validate(token)
    assert type(refused.value) is rejection, refused.value


def test_a_token_issued_in_the_future_is_judged_by_its_lifetime_alone(issuer, validator):
    # Easy Auth does not check iat: a token whose issuer's clock runs ahead passes while exp and nbf allow it
    now = int(time.time())
    token = issuer.token(iat=now + 3 * CLOCK_SKEW_SECONDS, nbf=now - 60)
    assert validator.validate(token)["oid"] == USER_CLAIMS["oid"]


@pytest.mark.parametrize("field", ["exp", "nbf"])
def test_a_clock_off_by_less_than_five_minutes_is_tolerated(issuer, validator, field):
    # given a token just expired, or not valid for a few minutes yet, by less than Easy Auth's clock skew
    now = int(time.time())
    token = issuer.token(exp=now - CLOCK_SKEW_SECONDS + 30) if field == "exp" else issuer.token(nbf=now + CLOCK_SKEW_SECONDS - 30)
    # when it is validated, then it passes, as Easy Auth would pass it
    assert validator.validate(token)["oid"] == USER_CLAIMS["oid"]


def test_the_clock_skew_is_easy_auths_five_minutes():
    assert CLOCK_SKEW_SECONDS == 300


def test_a_kid_in_a_refusal_is_quoted_and_short(issuer, validator):
    # given a token whose kid is long and has a line break (which a log line must not carry)
    token = issuer.token(header={"kid": "x" * 500 + "\nforged log line"})
    # when it is refused, then the message shows the kid escaped and cut short
    with pytest.raises(UnknownSigningKey) as refused:
        validator.validate(token)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 150


# --- the Authorization header ---


@pytest.fixture(scope="module")
def easy_auth(validator) -> EasyAuth:
    return EasyAuth(validator)


@pytest.mark.parametrize("headers", [{}, {"authorization": "Basic YWRhOnB3"}, {"authorization": ""}])
def test_no_bearer_token_is_refused_as_no_token_at_all(easy_auth, headers):
    # when a request has no Authorization header, or one of another scheme
    outcome = easy_auth.authenticate(headers)
    # then it is refused without a rejection (RFC 6750: no error code for a request without credentials)
    assert outcome == Refused(rejection=None)


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer two words"])
def test_a_bearer_header_without_one_token_is_a_malformed_token(easy_auth, value):
    outcome = easy_auth.authenticate({"authorization": value})
    assert isinstance(outcome, Refused) and isinstance(outcome.rejection, MalformedToken)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_read_in_any_case(issuer, easy_auth, scheme):
    # when a valid token comes under the scheme in any casing (RFC 7235: the scheme is case-insensitive)
    outcome = easy_auth.authenticate({"authorization": f"{scheme} {issuer.token()}"})
    # then the caller is known, with the headers Easy Auth adds
    assert isinstance(outcome, Caller)
    assert outcome.headers["x-ms-client-principal-id"] == USER_CLAIMS["oid"]
