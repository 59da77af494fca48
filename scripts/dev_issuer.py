"""A token issuer for trying Entra mode locally: a signing key, its JWKS and a TLS certificate in `.entra/`
(git-ignored), and tokens signed with that key for the app roles you name (docs/access.md#trying-it-locally).

    python -m scripts.dev_issuer setup                 # makes .entra/ once; prints the settings to export
    eval "$(python -m scripts.dev_issuer env)"         # the settings: the app in entra mode, the dev host's Easy Auth
    python -m scripts.dev_issuer token ImportExport.Contributor [--application] [--minutes 60]

The dev host then serves HTTPS with the certificate and plays App Service Authentication for this issuer. Its tokens
are good only for the dev host of this checkout: the key never leaves `.entra/`.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import shlex
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / ".entra"
TENANT = "00000000-0000-0000-0000-0000000dev00"
ISSUER = f"https://sts.windows.net/{TENANT}/"
AUDIENCE = "api://importexport-local"
KEY_ID = "local-dev-key"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, in PEM files."""

    cert: Path
    key: Path


def self_signed_certificate(folder: Path, *, days: int = 1) -> Certificate:
    """A new self-signed TLS certificate for 127.0.0.1 and localhost, valid for `days`, written to `folder`."""
    key = rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "importexport dev host")])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # a server's certificate only: trusted as a CA (NODE_EXTRA_CA_CERTS), it must not vouch for others
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = Certificate(folder / "cert.pem", folder / "key.pem")
    files.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files.key.chmod(0o600)
    return files


def setup(folder: Path) -> None:
    """The signing key, its JWKS and the certificate, each made only if missing."""
    folder.mkdir(exist_ok=True)
    signing = folder / "signing-key.pem"
    if not signing.exists():
        key = rsa_key()
        signing.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        signing.chmod(0o600)
    key = serialization.load_pem_private_key(signing.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    (folder / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}))
    if not (folder / "cert.pem").exists():
        self_signed_certificate(folder, days=365)


def environment(folder: Path) -> dict[str, str]:
    return {
        "IMPORTEXPORT_AUTH_MODE": "entra",
        "DEVHOST_TLS_CERT": str(folder / "cert.pem"),
        "DEVHOST_TLS_KEY": str(folder / "key.pem"),
        "DEVHOST_AUTH_ISSUER": ISSUER,
        "DEVHOST_AUTH_AUDIENCES": AUDIENCE,
        "DEVHOST_AUTH_JWKS_FILE": str(folder / "jwks.json"),
    }


def token(folder: Path, roles: list[str], *, application: bool, minutes: int) -> str:
    key = serialization.load_pem_private_key((folder / "signing-key.pem").read_bytes(), password=None)
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 60 * minutes,
        "tid": TENANT,
        "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ISSUER}{'app' if application else 'user'}")),
        "roles": roles,
    }
    if application:
        claims.update(appid="11111111-0000-4000-8000-00000000a99d", idtyp="app")
    else:
        claims.update(upn="developer@contoso.example", name="A Developer", scp="user_impersonation")
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.dev_issuer", description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=FOLDER, help="where the key, JWKS and certificate live (.entra/)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="make the key, JWKS and certificate if missing; print the settings")
    commands.add_parser("env", help="print the settings as export lines")
    minting = commands.add_parser("token", help="print a token holding the app roles named")
    minting.add_argument("roles", nargs="*", help="app role values, e.g. ImportExport.Contributor")
    minting.add_argument("--application", action="store_true", help="an application's token (no user, no scopes)")
    minting.add_argument("--minutes", type=int, default=60, help="how long it is valid (default 60)")
    args = parser.parse_args(argv)
    if args.command == "token":
        if not (args.folder / "signing-key.pem").exists():
            print(f"{parser.prog}: no signing key in {args.folder}: run `{parser.prog} setup` first", file=sys.stderr)
            return 2
        print(token(args.folder, args.roles, application=args.application, minutes=args.minutes))
        return 0
    if args.command == "setup":
        setup(args.folder)
    for name, value in environment(args.folder).items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
