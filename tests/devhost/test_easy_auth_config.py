"""Easy Auth configured by the DEVHOST_AUTH_* variables: off when none is set, refused when half set, keys from a JWKS
file or the issuer's metadata; and WEBSITE_AUTH_ENABLED, which the dev host sets as the platform does."""

from __future__ import annotations

import os

import pytest

from devhost.config import ConfigError
from devhost.easy_auth import (
    AUDIENCES_VARIABLE,
    AUTH_VARIABLES,
    ISSUER_VARIABLE,
    JWKS_FILE_VARIABLE,
    METADATA_URL_VARIABLE,
    PLATFORM_SETTING,
    Caller,
    EasyAuth,
    tell_the_app,
)

from .identity import AUDIENCE, ISSUER, Issuer, OpenIdProvider


@pytest.fixture
def environment(monkeypatch):
    """The test's own DEVHOST_AUTH_* variables and WEBSITE_AUTH_ENABLED: none set until it sets them."""
    for name in (*AUTH_VARIABLES, PLATFORM_SETTING):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="module")
def jwks_file(issuer, tmp_path_factory):
    return issuer.write_jwks(tmp_path_factory.mktemp("jwks") / "jwks.json")


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_with_no_variable_set_easy_auth_is_off(environment):
    assert EasyAuth.from_environment() is None


def test_a_jwks_file_and_audiences_turn_it_on(environment, issuer, jwks_file):
    # given the issuer, two audiences (with spaces around the comma) and the issuer's keys in a file
    environment.setenv(ISSUER_VARIABLE, ISSUER)
    environment.setenv(AUDIENCES_VARIABLE, f"api://other , {AUDIENCE}")
    environment.setenv(JWKS_FILE_VARIABLE, str(jwks_file))
    # when Easy Auth is read from the environment
    auth = EasyAuth.from_environment()
    # then it accepts the issuer's tokens for either audience
    assert auth is not None and auth.issuer == ISSUER
    assert isinstance(auth.authenticate(bearer(issuer.token())), Caller)
    assert isinstance(auth.authenticate(bearer(issuer.token(aud="api://other"))), Caller)


@pytest.mark.parametrize(
    "variables,words",
    [
        ({ISSUER_VARIABLE: ISSUER}, f"{ISSUER_VARIABLE} is set but {AUDIENCES_VARIABLE} is not"),
        ({ISSUER_VARIABLE: ISSUER, AUDIENCES_VARIABLE: " , "}, f"{ISSUER_VARIABLE} is set but {AUDIENCES_VARIABLE} is not"),
        ({AUDIENCES_VARIABLE: AUDIENCE}, f"{AUDIENCES_VARIABLE} is set but {ISSUER_VARIABLE} is not"),
        ({JWKS_FILE_VARIABLE: "jwks.json"}, f"{JWKS_FILE_VARIABLE} is set but {ISSUER_VARIABLE} is not"),
        (
            {ISSUER_VARIABLE: ISSUER, AUDIENCES_VARIABLE: AUDIENCE, JWKS_FILE_VARIABLE: "a", METADATA_URL_VARIABLE: "b"},
            "are both set",
        ),
        ({ISSUER_VARIABLE: ISSUER, AUDIENCES_VARIABLE: AUDIENCE, JWKS_FILE_VARIABLE: "/no/such/jwks.json"}, "/no/such/jwks.json"),
    ],
    ids=["issuer-alone", "blank-audiences", "audiences-alone", "keys-alone", "two-key-sources", "missing-jwks-file"],
)
def test_half_a_configuration_is_a_config_error_saying_what_to_set(environment, variables, words):
    for name, value in variables.items():
        environment.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        EasyAuth.from_environment()
    assert words in str(refused.value)


def test_without_a_jwks_file_the_keys_come_from_the_issuers_metadata(environment):
    # given an issuer whose metadata and keys are served (as Entra ID serves a tenant's), and no JWKS file
    with OpenIdProvider().running() as provider:
        issuer = Issuer(url=provider.issuer_url)
        provider.jwks = issuer.jwks()
        environment.setenv(ISSUER_VARIABLE, provider.issuer_url)
        environment.setenv(AUDIENCES_VARIABLE, AUDIENCE)
        # when Easy Auth is read from the environment
        auth = EasyAuth.from_environment()
        # then it found the keys through discovery, and accepts the issuer's tokens
        assert auth is not None and provider.jwks_fetches == 1
        assert isinstance(auth.authenticate(bearer(issuer.token())), Caller)


def test_the_metadata_url_can_be_given_apart_from_the_issuer(environment):
    # given tokens of Entra's issuer, whose metadata is served somewhere else (a copy, a proxy)
    with OpenIdProvider().running() as provider:
        issuer = Issuer()  # iss: login.microsoftonline.com
        provider.jwks = issuer.jwks()
        environment.setenv(ISSUER_VARIABLE, ISSUER)
        environment.setenv(AUDIENCES_VARIABLE, AUDIENCE)
        environment.setenv(METADATA_URL_VARIABLE, f"{provider.issuer_url}/.well-known/openid-configuration")
        # when Easy Auth is read, then the keys come from there, and the issuer checked is still Entra's
        auth = EasyAuth.from_environment()
        assert auth is not None
        assert isinstance(auth.authenticate(bearer(issuer.token())), Caller)


# --- WEBSITE_AUTH_ENABLED ---


def test_with_easy_auth_on_the_app_is_told_so(environment, issuer, jwks_file):
    environment.setenv(ISSUER_VARIABLE, ISSUER)
    environment.setenv(AUDIENCES_VARIABLE, AUDIENCE)
    environment.setenv(JWKS_FILE_VARIABLE, str(jwks_file))
    assert tell_the_app(EasyAuth.from_environment()) is None
    assert os.environ[PLATFORM_SETTING] == "True"


@pytest.mark.parametrize("claimed", ["true", "True", "1"])
def test_with_easy_auth_off_a_setting_that_claims_it_is_on_is_overruled(environment, claimed):
    # given WEBSITE_AUTH_ENABLED set by hand (or by local.settings.json) while the dev host's Easy Auth is off
    environment.setenv(PLATFORM_SETTING, claimed)
    # when the dev host tells the app, then the app reads False, and the overruled value is reported
    assert tell_the_app(None) == claimed
    assert os.environ[PLATFORM_SETTING] == "False"


@pytest.mark.parametrize("before", [None, "false"])
def test_with_easy_auth_off_the_app_reads_false_and_nothing_is_reported(environment, before):
    if before is not None:
        environment.setenv(PLATFORM_SETTING, before)
    assert tell_the_app(None) is None
    assert os.environ[PLATFORM_SETTING] == "False"
