"""Validates an Entra ID bearer token as App Service Authentication ("Easy Auth") does before the app sees a request.

A token passes when it is a JWT signed with RS256 by a key its issuer publishes (picked by its `kid`), its `iss` is
the configured issuer exactly, its `aud` is one of the allowed audiences, and it is within its lifetime (`exp`, and
`nbf` when it has one) give or take the clock skew Easy Auth allows. Anything else is refused with a `TokenRejected`
saying which check failed. No algorithm but RS256 is ever accepted: not `none`, and not HS256, which would let a
caller sign with the issuer's public key as an HMAC secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from .signing_keys import ALGORITHM, SigningKeys

# Easy Auth (Microsoft.IdentityModel's default ClockSkew) accepts a token up to 5 minutes past its exp or before its
# nbf: a token the app would be called with on Azure is accepted here too.
CLOCK_SKEW_SECONDS = 5 * 60
# The claims without which Easy Auth refuses a token: its lifetime, issuer and audience.
REQUIRED_CLAIMS = ("exp", "iss", "aud")
TIME_CLAIMS = ("exp", "nbf", "iat")


class TokenRejected(Exception):
    """A bearer token that failed a check; the subclass says which, the message says why in words."""


class MalformedToken(TokenRejected):
    """Not a JWT: not three base64url parts, or a header or claims that are not a JSON object of the usual types."""


class UnsupportedAlgorithm(TokenRejected):
    """Signed (or not) with an algorithm other than RS256: `none`, HS256 and the rest are refused."""


class UnknownSigningKey(TokenRejected):
    """Its header names no kid, or a kid that is none of the issuer's signing keys."""


class BadSignature(TokenRejected):
    """Its signature does not verify with the key its kid names."""


class MissingClaim(TokenRejected):
    """It lacks a claim Easy Auth requires: exp, iss or aud."""


class TokenExpired(TokenRejected):
    """Its exp has passed, by more than the clock skew allowed."""


class TokenNotYetValid(TokenRejected):
    """Its nbf is in the future, by more than the clock skew allowed."""


class WrongIssuer(TokenRejected):
    """Its iss is not the configured issuer."""


class WrongAudience(TokenRejected):
    """Its aud is none of the allowed audiences."""


@dataclass(frozen=True)
class TokenValidator:
    """Checks tokens of one issuer for a set of audiences; `validate` returns the claims of a token that passes."""

    issuer: str
    audiences: Sequence[str]
    keys: SigningKeys
    clock_skew: float = CLOCK_SKEW_SECONDS

    def validate(self, token: str) -> dict[str, Any]:
        """The token's claims, once every check has passed; else the TokenRejected naming the check that failed."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:  # not only DecodeError: a kid that is not text, a crit header, ...
            raise MalformedToken(f"the bearer token is not a JWT ({error})") from None
        algorithm = header.get("alg")
        if algorithm != ALGORITHM:
            raise UnsupportedAlgorithm(f"the token is signed with {_shown(algorithm)}; only {ALGORITHM} is accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise UnknownSigningKey("the token's header names no signing key (kid)")
        key = self.keys.key(kid)
        if key is None:
            raise UnknownSigningKey(f"the token's kid {_shown(kid)} is none of the issuer's signing keys")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=list(self.audiences),
                leeway=self.clock_skew,
                # Easy Auth (Microsoft.IdentityModel) does not judge a token by when it says it was issued
                options={"require": list(REQUIRED_CLAIMS), "verify_iat": False},
            )
        except jwt.PyJWTError as error:
            raise _rejection(error) from None
        # RFC 7519: the times are NumericDate, numbers; PyJWT reads "exp": "<digits>" as one.
        for name in TIME_CLAIMS:
            value = claims.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise MalformedToken(f"the token's {name} is not a number")
        return claims


# PyJWT's errors, most specific first (InvalidSignatureError is a DecodeError), as the check that failed.
_REJECTIONS: tuple[tuple[type[jwt.PyJWTError], type[TokenRejected], str], ...] = (
    (jwt.InvalidSignatureError, BadSignature, "the token's signature does not verify with its signing key"),
    (jwt.ExpiredSignatureError, TokenExpired, "the token has expired"),
    (jwt.ImmatureSignatureError, TokenNotYetValid, "the token is not valid yet"),
    (jwt.InvalidIssuerError, WrongIssuer, "the token's issuer (iss) is not the one this host trusts"),
    (jwt.InvalidAudienceError, WrongAudience, "the token's audience (aud) is not one this host accepts"),
    (jwt.MissingRequiredClaimError, MissingClaim, "the token lacks a required claim"),
    (jwt.InvalidAlgorithmError, UnsupportedAlgorithm, f"the token is not signed with {ALGORITHM}"),
)


def _rejection(error: jwt.PyJWTError) -> TokenRejected:
    for caught, rejection, words in _REJECTIONS:
        if isinstance(error, caught):
            detail = f" ({error.claim})" if isinstance(error, jwt.MissingRequiredClaimError) else ""
            return rejection(words + detail)
    return MalformedToken(f"the bearer token cannot be read: {error}")


def _shown(value: object) -> str:
    """A header value of the caller's for a message: quoted and escaped (no line breaks in a log), and short."""
    text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."
