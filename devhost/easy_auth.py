"""App Service Authentication ("Easy Auth") for Entra ID bearer tokens, as the dev host plays it: off unless
`DEVHOST_AUTH_ISSUER` is set; when on, every request to an HTTP function needs a valid bearer token, and the function
is handed the caller in Easy Auth's headers (`devhost.principal`).

On Azure, Easy Auth runs in front of the Functions host and the platform tells the app with the app setting
`WEBSITE_AUTH_ENABLED`; `tell_the_app` sets it here the same way, and sets it to False when Easy Auth is off, so a
`local.settings.json` that says true cannot make the app believe a caller was checked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError
from .principal import principal_headers
from .signing_keys import FileKeys, IssuerKeys, SigningKeys
from .tokens import TokenRejected, TokenValidator

ISSUER_VARIABLE = "DEVHOST_AUTH_ISSUER"
AUDIENCES_VARIABLE = "DEVHOST_AUTH_AUDIENCES"
JWKS_FILE_VARIABLE = "DEVHOST_AUTH_JWKS_FILE"
METADATA_URL_VARIABLE = "DEVHOST_AUTH_METADATA_URL"
AUTH_VARIABLES = (ISSUER_VARIABLE, AUDIENCES_VARIABLE, JWKS_FILE_VARIABLE, METADATA_URL_VARIABLE)
# The app setting the platform sets when Easy Auth is configured ("True", or "False" when it is turned off).
PLATFORM_SETTING = "WEBSITE_AUTH_ENABLED"


def metadata_url(issuer: str) -> str:
    """Where OpenID Connect discovery finds an issuer's metadata (a trailing slash of a v1 issuer is not doubled)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


@dataclass(frozen=True)
class Caller:
    """A request whose bearer token passed every check: the token's claims and the headers Easy Auth adds for it."""

    claims: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class Refused:
    """A request Easy Auth answers with 401 itself: it sent no bearer token (`rejection` None), or one that failed."""

    rejection: TokenRejected | None


@dataclass(frozen=True)
class EasyAuth:
    """The dev host's Easy Auth: who issues the tokens it accepts, for which audiences, checked with which keys."""

    validator: TokenValidator

    @classmethod
    def from_environment(cls) -> EasyAuth | None:
        """Easy Auth as the DEVHOST_AUTH_* variables configure it, None when none is set (off). Half a configuration,
        keys that cannot be had or a JWKS file with no RSA signing key is a ConfigError, before anything is served."""
        values = {name: os.environ.get(name, "").strip() for name in AUTH_VARIABLES}
        issuer = values[ISSUER_VARIABLE]
        if not issuer:
            stray = [name for name in AUTH_VARIABLES if values[name]]
            if stray:
                raise ConfigError(
                    f"{stray[0]} is set but {ISSUER_VARIABLE} is not: set the issuer to turn Easy Auth on, or unset {stray[0]}"
                )
            return None
        audiences = [audience.strip() for audience in values[AUDIENCES_VARIABLE].split(",") if audience.strip()]
        if not audiences:
            raise ConfigError(
                f"{ISSUER_VARIABLE} is set but {AUDIENCES_VARIABLE} is not: give the allowed token audiences, comma-separated"
            )
        if values[JWKS_FILE_VARIABLE] and values[METADATA_URL_VARIABLE]:
            raise ConfigError(f"{JWKS_FILE_VARIABLE} and {METADATA_URL_VARIABLE} are both set: the keys come from one of them")
        keys: SigningKeys = (
            FileKeys(Path(values[JWKS_FILE_VARIABLE]))
            if values[JWKS_FILE_VARIABLE]
            else IssuerKeys(values[METADATA_URL_VARIABLE] or metadata_url(issuer))
        )
        return cls(TokenValidator(issuer=issuer, audiences=tuple(audiences), keys=keys))

    @property
    def issuer(self) -> str:
        return self.validator.issuer

    def authenticate(self, headers: Mapping[str, str]) -> Caller | Refused:
        """Who the request comes from, by the bearer token in its Authorization header (names in lower case).

        No Authorization header, or one of another scheme (Basic), is no token at all (RFC 6750 section 3.1)."""
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return Refused(rejection=None)
        try:
            # "Bearer" with nothing after it, or with more than one word, is a token that is not a JWT.
            claims = self.validator.validate(token.strip())
        except TokenRejected as rejection:
            return Refused(rejection=rejection)
        return Caller(claims=claims, headers=principal_headers(claims))


def tell_the_app(auth: EasyAuth | None) -> str | None:
    """Sets WEBSITE_AUTH_ENABLED in this process's environment (which the app reads before local.settings.json) as
    the platform would: True when Easy Auth is on, False when it is off. Returns a value that claimed Easy Auth was
    on while it is not (from the environment or local.settings.json), so the caller can say it was overruled."""
    before = os.environ.get(PLATFORM_SETTING)
    os.environ[PLATFORM_SETTING] = "True" if auth is not None else "False"
    overruled = auth is None and before is not None and before.strip().lower() not in ("", "false", "0")
    return before if overruled else None
