"""HTTPS: the dev host serves TLS with a given certificate, a client that fails the handshake costs one log line and
nothing else, and a certificate or key it cannot use is refused in one line naming the file."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from devhost.config import ConfigError
from devhost.tls import PemFile, TlsFiles

from ..harness import serving
from .identity import self_signed_certificate


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https_host(whoami, certificate):
    context = TlsFiles(PemFile(certificate.cert, "--cert"), PemFile(certificate.key, "--key")).server_context()
    with serving(whoami.load(), tls=context) as server:
        yield server


def test_the_function_is_served_over_https_to_a_client_that_verifies_the_certificate(https_host, certificate):
    # when a client that trusts only the test certificate calls a route
    response = requests.get(f"{https_host.base_url}/whoami/x", verify=certificate.cert, timeout=10)
    # then it is answered over https, and the function is handed the https URL the client called
    assert https_host.base_url.startswith("https://127.0.0.1:")
    assert response.status_code == 200
    assert response.json()["url"] == f"{https_host.base_url}/whoami/x"


def test_tls_is_1_2_or_later(certificate):
    context = TlsFiles(PemFile(certificate.cert, "--cert"), PemFile(certificate.key, "--key")).server_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def plain_http(server) -> bytes:
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as connection:
        connection.sendall(b"GET /whoami/x HTTP/1.1\r\nHost: h\r\n\r\n")
        try:
            return connection.recv(65536)
        except ConnectionResetError:
            return b""


def untrusting_client(server) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.base_url}/whoami/x", timeout=10)  # the system's CAs: the test certificate is not among them


def silent_client(server) -> None:
    socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10).close()


def handshake_failures(caplog) -> list[logging.LogRecord]:
    """The log's handshake failure records, once at least one is there (it is written on the connection's thread)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [record for record in caplog.records if "TLS handshake" in record.getMessage()]
        if found:
            return found
        time.sleep(0.02)
    return []


@pytest.mark.parametrize("failing_client", [plain_http, untrusting_client, silent_client])
def test_a_failed_handshake_is_one_log_line_and_the_server_serves_on(https_host, certificate, caplog, failing_client):
    # given a client that fails the TLS handshake (plain http, a certificate it does not trust, a connection closed at once)
    with caplog.at_level(logging.INFO):
        failing_client(https_host)
        failures = handshake_failures(caplog)
        # when a good client calls next
        response = requests.get(f"{https_host.base_url}/whoami/x", verify=certificate.cert, timeout=10)
    # then it is served, and the failure was logged in one line without a traceback
    assert response.status_code == 200
    assert len(failures) == 1 and "\n" not in failures[0].getMessage()
    assert not [record for record in caplog.records if record.exc_info]


def test_plain_http_on_the_https_port_is_named_in_the_log(https_host, caplog):
    with caplog.at_level(logging.INFO):
        plain_http(https_host)
        [failure] = handshake_failures(caplog)
    assert failure.getMessage().endswith("the client sent plain http to this https port")


# --- certificates and keys it cannot use ---


def other_key(tmp_path: Path) -> Path:
    return self_signed_certificate(tmp_path).key


@pytest.mark.parametrize(
    "cert,key,words",
    [
        (lambda c, t: t / "missing.pem", lambda c, t: c.key, "missing.pem (--cert) is not found"),
        (lambda c, t: c.cert, lambda c, t: t / "missing.pem", "missing.pem (--key) is not found"),
        (lambda c, t: c.key, lambda c, t: c.key, "holds no PEM certificate"),
        (lambda c, t: c.cert, lambda c, t: c.cert, "holds no PEM private key"),
        (lambda c, t: c.cert, lambda c, t: other_key(t), "does not match the certificate"),
        (lambda c, t: c.cert, None, "holds no PEM private key"),
    ],
    ids=["no-cert-file", "no-key-file", "cert-not-pem", "key-not-pem", "key-of-another-cert", "no-key-in-cert-file"],
)
def test_a_certificate_or_key_that_cannot_be_used_is_a_config_error_naming_it(certificate, tmp_path, cert, key, words):
    # when a context is made of files that cannot serve, then the ConfigError names the file and what is wrong
    files = TlsFiles(PemFile(cert(certificate, tmp_path), "--cert"), key and PemFile(key(certificate, tmp_path), "--key"))
    with pytest.raises(ConfigError) as refused:
        files.server_context()
    assert words in str(refused.value)


def test_a_certificate_and_key_in_one_file_serve(whoami, certificate, tmp_path):
    # given one PEM file with the certificate and its key, as some tools write them, and no key file
    both = tmp_path / "both.pem"
    both.write_bytes(certificate.cert.read_bytes() + certificate.key.read_bytes())
    # when the dev host serves with it
    with serving(whoami.load(), tls=TlsFiles(PemFile(both, "DEVHOST_TLS_CERT")).server_context()) as server:
        response = requests.get(f"{server.base_url}/whoami/x", verify=certificate.cert, timeout=10)
    # then clients that trust the certificate are served
    assert response.status_code == 200


def test_an_encrypted_key_is_refused_rather_than_prompted_for(certificate, tmp_path):
    # given the certificate's key encrypted with a passphrase
    key = serialization.load_pem_private_key(certificate.key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"secret")
        )
    )
    # when a context is made with it, then it is refused (OpenSSL would stop and ask for the passphrase on the terminal)
    with pytest.raises(ConfigError) as refused:
        TlsFiles(PemFile(certificate.cert, "--cert"), PemFile(encrypted, "--key")).server_context()
    assert "is encrypted" in str(refused.value)
