"""HTTPS for the dev host: the server's TLS context, from a PEM certificate and key (`--cert`/`--key`, else
`DEVHOST_TLS_CERT`/`DEVHOST_TLS_KEY`).

Off unless a certificate is given, so `make run` serves plain http as before. Bearer tokens need it: azure-core
refuses to send one over http. A file that is missing, unreadable, not PEM, encrypted, or a key that does not match
its certificate stops the dev host with one line naming the file (`ConfigError`).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from .config import ConfigError

CERT_VARIABLE = "DEVHOST_TLS_CERT"
KEY_VARIABLE = "DEVHOST_TLS_KEY"


@dataclass(frozen=True)
class PemFile:
    """A PEM file the user named, and where they named it (a flag or a variable), for the message that refuses it."""

    path: Path
    named_by: str

    def __str__(self) -> str:
        return f"{self.path} ({self.named_by})"

    def read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"the TLS file {self} is not found") from None
        except OSError as error:
            raise ConfigError(f"the TLS file {self} cannot be read: {error.strerror or error}") from None


@dataclass(frozen=True)
class TlsFiles:
    """The certificate chain to serve and its private key (in the certificate's file when no key file is given)."""

    cert: PemFile
    key: PemFile | None = None

    @classmethod
    def chosen(cls, *, cert: Path | None, key: Path | None) -> TlsFiles | None:
        """The files to serve with: the flags', else the variables'; None (plain http) when no certificate is given."""
        cert_file = _named(cert, "--cert", CERT_VARIABLE)
        key_file = _named(key, "--key", KEY_VARIABLE)
        if cert_file is None and key_file is not None:
            raise ConfigError(f"a TLS key is given ({key_file.named_by}) but no certificate: give --cert or {CERT_VARIABLE} too")
        return None if cert_file is None else cls(cert_file, key_file)

    def server_context(self) -> ssl.SSLContext:
        """A server TLS context for these files: TLS 1.2 or later, HTTP/1.1."""
        cert, key = self.cert, self.key or self.cert
        cert_data, key_data = cert.read(), key.read()
        # Read first with cryptography, whose errors say what is wrong; OpenSSL's say only "PEM lib".
        try:
            x509.load_pem_x509_certificates(cert_data)
        except ValueError:
            raise ConfigError(f"the TLS certificate {cert} holds no PEM certificate") from None
        try:
            serialization.load_pem_private_key(key_data, password=None)
        except TypeError:
            raise ConfigError(f"the TLS key {key} is encrypted: give the key without a passphrase") from None
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigError(f"the TLS key {key} holds no PEM private key") from None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        try:
            context.load_cert_chain(cert.path, key.path)
        except ssl.SSLError as error:
            if error.reason == "KEY_VALUES_MISMATCH":
                raise ConfigError(f"the TLS key {key} does not match the certificate {cert}") from None
            raise ConfigError(f"the TLS certificate {cert} and key {key} cannot be used: {error.reason or error}") from None
        return context


def _named(flag: Path | None, flag_name: str, variable: str) -> PemFile | None:
    if flag is not None:
        return PemFile(flag, flag_name)
    value = os.environ.get(variable, "").strip()
    return PemFile(Path(value), variable) if value else None
