"""The issuer's token signing keys, by `kid`: from a JWKS file, or from the issuer's OpenID Connect metadata.

Easy Auth learns an issuer's keys from its metadata (`{issuer}/.well-known/openid-configuration` names the
`jwks_uri`) and follows key rotation: a token signed with a key it does not know makes it fetch the keys again, no
more often than every few minutes. The dev host does the same, and fetches once at start, so a wrong issuer or an
unreachable endpoint stops it with one line before it serves anything. Only RSA keys for signatures are kept: the
dev host accepts RS256 alone.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Protocol

import jwt

from .config import ConfigError, read_json

log = logging.getLogger("devhost.auth")
ALGORITHM = "RS256"
FETCH_TIMEOUT_SECONDS = 10
# An unknown kid fetches the keys again at most this often (Microsoft.IdentityModel's RefreshInterval), so a stream
# of forged kids cannot make the dev host hammer the issuer.
REFRESH_COOLDOWN_SECONDS = 5 * 60
# Keys are fetched again after this long even when every kid is known, so a key the issuer dropped stops being
# trusted (IdentityModel's AutomaticRefreshInterval).
MAX_KEYS_AGE_SECONDS = 12 * 60 * 60


class KeysUnavailable(Exception):
    """The signing keys could not be fetched or read; the message says from where and why."""


class SigningKeys(Protocol):
    """Where a token's key is looked up by its `kid`."""

    def key(self, kid: str) -> jwt.PyJWK | None: ...


def signing_keys(document: Any, source: str) -> dict[str, jwt.PyJWK]:
    """The RS256 signing keys of a JWKS document, by kid; KeysUnavailable when it has none."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise KeysUnavailable(f'{source} is not a JWKS document (an object with a "keys" array)')
    usable: dict[str, jwt.PyJWK] = {}
    for entry in keys:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        if not isinstance(entry.get("kid"), str) or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            usable[entry["kid"]] = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except jwt.PyJWTError:
            continue  # a malformed key is skipped, as PyJWKSet skips it
    if not usable:
        raise KeysUnavailable(f"{source} has no RSA signing key with a kid (RS256 is the only algorithm accepted)")
    return usable


class FileKeys:
    """Keys read once from a JWKS file (`DEVHOST_AUTH_JWKS_FILE`): a test issuer's, or a copy of a real one's."""

    def __init__(self, path: Path) -> None:
        try:
            self._keys = signing_keys(read_json(path), str(path))
        except KeysUnavailable as error:
            raise ConfigError(str(error)) from None

    def key(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)


def fetch_json(url: str) -> Any:
    """A JSON document over http(s) (urllib would also open file: and ftp: URLs); KeysUnavailable when there is none."""
    if not url.lower().startswith(("https://", "http://")):
        raise KeysUnavailable(f"{url} is not an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
            return json.load(response)
    except (OSError, http.client.HTTPException) as error:  # URLError and HTTPError are OSErrors
        raise KeysUnavailable(f"{url} did not answer: {getattr(error, 'reason', error)}") from None
    except ValueError as error:
        raise KeysUnavailable(f"{url} did not answer JSON: {error}") from None


def jwks_uri(metadata_url: str) -> str:
    """The `jwks_uri` an OpenID Connect metadata document names."""
    metadata = fetch_json(metadata_url)
    uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
    if not isinstance(uri, str) or not uri:
        raise KeysUnavailable(f"{metadata_url} is not OpenID Connect metadata: it names no jwks_uri")
    return uri


class IssuerKeys:
    """The keys an issuer publishes at its `jwks_uri` (found through its OpenID metadata), fetched at start and again
    when a token names an unknown kid (at most every `refresh_cooldown` seconds) or the keys are `max_age` old.

    A fetch that fails later keeps the keys already known (and is logged): an issuer's outage must not turn away
    callers whose tokens the known keys still verify."""

    def __init__(
        self,
        metadata_url: str,
        *,
        refresh_cooldown: float = REFRESH_COOLDOWN_SECONDS,
        max_age: float = MAX_KEYS_AGE_SECONDS,
    ) -> None:
        try:
            self.jwks_uri = jwks_uri(metadata_url)
            # PyJWKClient fetches without following redirects and only over http(s); the cache and the cooldown are
            # this class's (its own cache would fail a lookup when a refresh fails).
            self._client = jwt.PyJWKClient(self.jwks_uri, cache_jwk_set=False, timeout=FETCH_TIMEOUT_SECONDS)
            self._keys = self._fetch()
        except KeysUnavailable as error:
            raise ConfigError(f"the issuer's signing keys cannot be had: {error}") from None
        self._refresh_cooldown = refresh_cooldown
        self._max_age = max_age
        self._fetched_at = time.monotonic()
        self._lock = threading.Lock()

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            document = self._client.fetch_data()
        except jwt.PyJWKClientError as error:
            raise KeysUnavailable(f"{self.jwks_uri}: {error}") from None
        return signing_keys(document, self.jwks_uri)

    def key(self, kid: str) -> jwt.PyJWK | None:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if age >= self._max_age or (kid not in self._keys and age >= self._refresh_cooldown):
                self._refresh()
            return self._keys.get(kid)

    def _refresh(self) -> None:
        # Counted from the attempt, failed or not: an unreachable issuer is asked again only after the cooldown.
        self._fetched_at = time.monotonic()
        try:
            self._keys = self._fetch()
        except KeysUnavailable as error:
            log.warning("signing keys not refreshed, the known ones are kept: %s", error)
