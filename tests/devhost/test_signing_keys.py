"""The issuer's signing keys: from a JWKS file, or found through OpenID Connect discovery at start and fetched again
when a token names a kid not yet known (at most every few minutes), with the known keys kept when a fetch fails."""

from __future__ import annotations

import json
import logging

import pytest

from devhost.config import ConfigError
from devhost.easy_auth import metadata_url
from devhost.signing_keys import FileKeys, IssuerKeys
from scripts.azurite import free_port

from .identity import Issuer, OpenIdProvider


@pytest.fixture
def provider():
    with OpenIdProvider().running() as running:
        yield running


@pytest.fixture
def issuer(provider) -> Issuer:
    issuer = Issuer(url=provider.issuer_url)
    provider.jwks = issuer.jwks()
    return issuer


def test_the_metadata_is_found_under_the_issuer_as_openid_connect_discovery_says():
    assert (
        metadata_url("https://login.microsoftonline.com/t/v2.0")
        == "https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration"
    )
    # a v1 issuer ends with a slash, which is not doubled
    assert metadata_url("https://sts.windows.net/t/") == "https://sts.windows.net/t/.well-known/openid-configuration"


def test_discovery_finds_the_issuers_keys_at_start(provider, issuer):
    # when the keys are looked up through the issuer's metadata
    keys = IssuerKeys(metadata_url(provider.issuer_url))
    # then the jwks_uri it names was fetched once, and the issuer's key is there by its kid
    assert provider.jwks_fetches == 1
    assert keys.key(issuer.kid) is not None
    assert keys.jwks_uri == f"{provider.base_url}/tenant/discovery/v2.0/keys"


def test_a_rotated_key_is_fetched_when_a_token_names_it(provider, issuer):
    # given keys fetched at start, then a new key the issuer publishes (a rotation)
    keys = IssuerKeys(metadata_url(provider.issuer_url), refresh_cooldown=0)
    new_kid = issuer.add_key()
    provider.jwks = issuer.jwks()
    # when a token's kid names the new key, then the keys are fetched again and it is found
    assert keys.key(new_kid) is not None
    assert provider.jwks_fetches == 2


def test_unknown_kids_fetch_the_keys_at_most_once_per_cooldown(provider, issuer):
    # given keys just fetched, with the default cooldown of minutes
    keys = IssuerKeys(metadata_url(provider.issuer_url))
    # when tokens name kids the issuer never published, again and again
    for attempt in range(5):
        assert keys.key(f"forged-{attempt}") is None
    # then the issuer was not asked again: forged kids cannot make the host hammer it
    assert provider.jwks_fetches == 1


def test_a_failed_refresh_keeps_the_known_keys(provider, issuer, caplog):
    # given keys fetched at start, then the issuer's endpoint failing
    keys = IssuerKeys(metadata_url(provider.issuer_url), refresh_cooldown=0)
    provider.down = True
    # when an unknown kid makes it fetch again
    with caplog.at_level(logging.WARNING):
        assert keys.key("unknown") is None
    # then the known key still verifies, and the failure is one warning
    assert keys.key(issuer.kid) is not None
    assert any("signing keys not refreshed" in record.getMessage() for record in caplog.records)


def test_keys_older_than_their_max_age_are_fetched_again_so_a_dropped_key_goes(provider, issuer):
    # given keys whose age limit has passed, and an issuer that dropped its old key for a new one
    keys = IssuerKeys(metadata_url(provider.issuer_url), max_age=0)
    old_kid = issuer.kid
    issuer.add_key()
    provider.jwks = {"keys": [key for key in issuer.jwks()["keys"] if key["kid"] != old_kid]}
    # when the old key is looked up, then it is no longer trusted
    assert keys.key(old_kid) is None


@pytest.mark.parametrize(
    "document,words",
    [
        ({"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}, "no RSA signing key"),
        ({"keys": []}, "no RSA signing key"),
        ({"not": "a jwks"}, "not a JWKS document"),
    ],
)
def test_a_jwks_file_without_an_rsa_signing_key_is_a_config_error_naming_it(tmp_path, document, words):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError) as refused:
        FileKeys(path)
    assert str(path) in str(refused.value) and words in str(refused.value)


def test_a_jwks_file_keeps_only_rsa_keys_for_signatures(tmp_path):
    # given a JWKS with the issuer's key, an encryption key and a key for another algorithm
    issuer = Issuer()
    [signing] = issuer.jwks()["keys"]
    others = [{**signing, "kid": "for-encryption", "use": "enc"}, {**signing, "kid": "rs512", "alg": "RS512"}]
    document = {"keys": [signing, *others]}
    (tmp_path / "jwks.json").write_text(json.dumps(document))
    # when it is read, then only the signing key for RS256 is kept
    keys = FileKeys(tmp_path / "jwks.json")
    assert [keys.key(kid) is not None for kid in (issuer.kid, "for-encryption", "rs512")] == [True, False, False]


def test_an_unreachable_issuer_is_a_config_error_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}/tenant/v2.0/.well-known/openid-configuration"
    with pytest.raises(ConfigError) as refused:
        IssuerKeys(url)
    assert url in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "issuer_path,words",
    [("/no-keys", "is not OpenID Connect metadata: it names no jwks_uri"), ("/nothing-here", "did not answer: Not Found")],
)
def test_metadata_that_names_no_keys_is_a_config_error_naming_the_url(provider, issuer_path, words):
    url = metadata_url(provider.base_url + issuer_path)
    with pytest.raises(ConfigError) as refused:
        IssuerKeys(url)
    assert f"{url} {words}" in str(refused.value)
