"""`python -m devhost` as a user runs it: it serves the app, over https and behind Easy Auth when told to, and what
stops it (a bad port, a port in use, a malformed local.settings.json, keys, certificates or Easy Auth set wrong) is one
line, never a traceback."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from scripts.azurite import free_port
from scripts.devhost_process import DevHostProcess

from ..builders import ABSENT_JOB_PATH
from ..harness import (
    app_folder,
    assert_one_line_refusal,
    start_devhost,
)
from .identity import AUDIENCE, ISSUER, Issuer, self_signed_certificate, write_whoami_app


def test_python_m_devhost_serves_the_app(app_settings, tmp_path):
    # given only the environment a user would set
    host = DevHostProcess(app_settings.storage_connection, app_settings.table_name, root=None, capture_output=True)
    with host:
        # when a job route is called
        response = requests.get(
            f"http://127.0.0.1:{host.port}{ABSENT_JOB_PATH}", params={"api-version": "2021-01-01"}, timeout=10
        )
    # then the app answers through it
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"
    assert "create_job: PUT /subscriptions/{subscriptionId}" in host.output


@pytest.mark.parametrize("port", ["99999", "-1", "http", "٣"])
def test_a_port_that_is_not_a_port_number_is_one_usage_error(tmp_path, port):
    # when the dev host is started on something that is not a TCP port
    result = start_devhost(app_folder(tmp_path), "--port", port)
    # then argparse refuses it in one line, without a traceback
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"python -m devhost: error: argument --port: {port!r} is not a port number (0-65535)"


def test_a_port_in_use_is_one_line_naming_it_and_what_to_do(tmp_path):
    # given a port something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # when the dev host is started on it
        result = start_devhost(app_folder(tmp_path), "--port", str(port))
    # then it says so in one line, naming the address and how to pick another
    line = assert_one_line_refusal(result)
    assert f"127.0.0.1:{port}" in line and "--port" in line and "PORT=" in line


def test_a_malformed_local_settings_file_is_one_line_naming_it(tmp_path):
    # given a local.settings.json with a syntax error
    root = app_folder(tmp_path, local_settings='{"Values": {"A": "1",}}')
    # when the dev host is started on that folder
    result = start_devhost(root, "--port", str(free_port()))
    # then it refuses in one line naming the file and the error
    line = assert_one_line_refusal(result)
    assert str(root / "local.settings.json") in line and "line 1 column" in line


def test_a_whitespace_only_key_counts_as_unset(tmp_path):
    # given a function key of only a space beside a real master key
    environment = {"DEVHOST_FUNCTION_KEY": " ", "DEVHOST_MASTER_KEY": "master"}
    # when the dev host is started
    result = start_devhost(app_folder(tmp_path), "--port", str(free_port()), env=environment)
    # then the blank key is no key: one set without the other is refused in one line
    line = assert_one_line_refusal(result)
    assert "DEVHOST_MASTER_KEY is set but DEVHOST_FUNCTION_KEY is not" in line


def test_the_same_value_for_both_keys_is_refused_in_one_line(tmp_path):
    # given a function key equal to the master key (every function key would then open the admin routes)
    environment = {"DEVHOST_FUNCTION_KEY": "same", "DEVHOST_MASTER_KEY": "same"}
    # when the dev host is started
    result = start_devhost(app_folder(tmp_path), "--port", str(free_port()), env=environment)
    # then it refuses in one line naming both variables
    line = assert_one_line_refusal(result)
    assert "DEVHOST_FUNCTION_KEY" in line and "DEVHOST_MASTER_KEY" in line and "same" in line


# --- https, as a user turns it on ---


def test_https_serves_with_the_certificate_given(tmp_path):
    # given the app folder and a certificate for 127.0.0.1, its file by flag and its key by variable
    app = write_whoami_app(tmp_path)
    certificate = self_signed_certificate(tmp_path)
    host = DevHostProcess(
        root=app.root,
        environment={"DEVHOST_TLS_KEY": str(certificate.key)},
        arguments=["--cert", str(certificate.cert)],
        capture_output=True,
    )
    with host:
        # when a client that verifies the certificate calls
        url = f"https://127.0.0.1:{host.port}/whoami/x"
        response = requests.get(url, verify=certificate.cert, timeout=10)
    # then it is served over https, and the dev host said where
    assert response.status_code == 200 and response.json()["url"] == url
    assert f"on https://127.0.0.1:{host.port} (keys off)" in host.output


@pytest.mark.parametrize(
    "environment,arguments,words",
    [
        ({}, ["--cert", "/no/such/cert.pem"], "/no/such/cert.pem (--cert) is not found"),
        ({"DEVHOST_TLS_CERT": "/no/such/cert.pem"}, [], "/no/such/cert.pem (DEVHOST_TLS_CERT) is not found"),
        ({"DEVHOST_TLS_KEY": "/some/key.pem"}, [], "a TLS key is given (DEVHOST_TLS_KEY) but no certificate"),
    ],
    ids=["no-cert-file", "no-cert-file-by-variable", "key-alone"],
)
def test_https_set_wrong_is_one_line_naming_what_to_fix(tmp_path, environment, arguments, words):
    result = start_devhost(app_folder(tmp_path), "--port", str(free_port()), *arguments, env=environment)
    assert words in assert_one_line_refusal(result)


# --- Easy Auth, as a user turns it on ---


def test_https_and_easy_auth_serve_a_caller_with_a_token(tmp_path):
    # given the app folder, a certificate for 127.0.0.1, and Easy Auth for the test issuer with its keys in a file
    app = write_whoami_app(tmp_path)
    certificate = self_signed_certificate(tmp_path)
    issuer = Issuer()
    environment = {
        "DEVHOST_TLS_KEY": str(certificate.key),
        "DEVHOST_AUTH_ISSUER": ISSUER,
        "DEVHOST_AUTH_AUDIENCES": AUDIENCE,
        "DEVHOST_AUTH_JWKS_FILE": str(issuer.write_jwks(tmp_path / "jwks.json")),
    }
    host = DevHostProcess(
        root=app.root, environment=environment, arguments=["--cert", str(certificate.cert)], capture_output=True
    )
    with host:
        # when a client that verifies the certificate calls with a token, and without one
        url = f"https://127.0.0.1:{host.port}/whoami/x"
        served = requests.get(url, headers={"Authorization": f"Bearer {issuer.token()}"}, verify=certificate.cert, timeout=10)
        refused = requests.get(url, verify=certificate.cert, timeout=10)
    # then the caller reaches the function, which the platform's setting tells Easy Auth is on; the other is a 401
    assert served.status_code == 200, served.text
    seen = served.json()
    assert seen["auth_enabled"] == "True"
    assert seen["url"] == url and seen["headers"]["x-ms-client-principal-idp"] == "aad"
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Bearer realm="127.0.0.1"'
    assert f"on https://127.0.0.1:{host.port} (keys off, Easy Auth on for tokens of {ISSUER})" in host.output


def test_without_easy_auth_a_local_setting_that_claims_it_is_on_is_overruled(tmp_path):
    # given a local.settings.json that says WEBSITE_AUTH_ENABLED=true, and no Easy Auth configured
    app = write_whoami_app(tmp_path)
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"WEBSITE_AUTH_ENABLED": "true"}}))
    host = DevHostProcess(root=app.root, capture_output=True)
    with host:
        # when a client sends a principal of its own making
        response = requests.get(
            f"http://127.0.0.1:{host.port}/whoami/x", headers={"X-MS-CLIENT-PRINCIPAL-NAME": "admin"}, timeout=10
        )
    # then the function reads False and never sees the forged header; the dev host said it overruled the setting
    assert response.json()["auth_enabled"] == "False"
    assert "x-ms-client-principal-name" not in response.json()["headers"]
    assert "WEBSITE_AUTH_ENABLED=true is overruled with False" in host.output


@pytest.mark.parametrize(
    "environment,words",
    [
        ({"DEVHOST_AUTH_ISSUER": ISSUER}, "DEVHOST_AUTH_ISSUER is set but DEVHOST_AUTH_AUDIENCES is not"),
        ({"DEVHOST_AUTH_AUDIENCES": AUDIENCE}, "DEVHOST_AUTH_AUDIENCES is set but DEVHOST_AUTH_ISSUER is not"),
        (
            {
                "DEVHOST_AUTH_ISSUER": ISSUER,
                "DEVHOST_AUTH_AUDIENCES": AUDIENCE,
                "DEVHOST_AUTH_METADATA_URL": "http://127.0.0.1:9/m",
            },
            "http://127.0.0.1:9/m did not answer",
        ),
    ],
    ids=["issuer-alone", "audiences-alone", "issuer-unreachable"],
)
def test_easy_auth_set_wrong_is_one_line_naming_what_to_fix(tmp_path, environment, words):
    result = start_devhost(app_folder(tmp_path), "--port", str(free_port()), env=environment)
    assert words in assert_one_line_refusal(result)
