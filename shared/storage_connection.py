"""Which storage account holds the jobs, and how the app signs in to it, read from the settings as the Functions host
reads a connection named X: a connection string in X itself, or an identity-based connection in `X__…` settings.

- `X` (a connection string; `UseDevelopmentStorage=true` means Azurite) wins when it is set.
- Else `X__tableServiceUri` (alias `X__serviceUri`; for `AzureWebJobsStorage` also `X__accountName`) is the Table
  endpoint, over https, and the credential is:
  - `X__credential=managedidentity`: the app's managed identity (`X__clientId` picks a user-assigned one);
  - `X__tenantId` + `X__clientId` + `X__clientSecret`: a service principal (local development);
  - none of these: `DefaultAzureCredential` (environment, workload identity, managed identity, developer sign-ins).

A half-made identity is one `SettingsError` naming the setting. `describe()` says which form is in use and never
shows a secret (an account key, a SAS, a client secret).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from azure.data.tables import TableServiceClient
from pydantic import SecretStr


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it."""


# Azurite's documented, public development account: what `UseDevelopmentStorage=true` means.
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)
ACCOUNT_NAME_SETTING = "AzureWebJobsStorage"  # the one connection whose `__accountName` form the host reads
_HOST = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|[0-9a-fA-F:.]+"
)
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
# The parts of an identity-based connection X, as `X__<part>` settings.
ENDPOINT_PARTS = ("tableServiceUri", "serviceUri", "accountName")
CREDENTIAL_PARTS = ("credential", "clientId", "tenantId", "clientSecret")


class IdentityKind(StrEnum):
    """How the app gets its token for storage."""

    MANAGED_IDENTITY = "managed identity"
    SERVICE_PRINCIPAL = "service principal"
    DEFAULT = "DefaultAzureCredential"


@dataclass(frozen=True)
class IdentityConnection:
    """A storage account reached by Entra ID: its Table endpoint, and how the app signs in (no key anywhere)."""

    setting: str  # the connection's name, X, for messages
    table_service_uri: str
    kind: IdentityKind
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: SecretStr | None = None

    def describe(self) -> str:
        if self.kind is IdentityKind.MANAGED_IDENTITY:
            how = (
                f"a user-assigned managed identity (client id {self.client_id})"
                if self.client_id
                else "the system-assigned managed identity"
            )
        elif self.kind is IdentityKind.SERVICE_PRINCIPAL:
            how = f"a service principal (tenant {self.tenant_id}, client id {self.client_id}; its secret not shown)"
        else:
            how = "DefaultAzureCredential"
        return f"identity-based connection {self.setting}__*: {self.table_service_uri} as {how}"

    def __repr__(self) -> str:  # never the secret, whoever prints the settings
        return f"IdentityConnection({self.describe()!r})"


def expand_connection_string(connection: str) -> str:
    if connection.replace(" ", "").lower().startswith("usedevelopmentstorage=true"):
        return DEVELOPMENT_STORAGE
    return connection


def check_connection_string(connection: str, setting: str) -> None:
    """Refuses a connection string the storage client could never sign with; it would look like an outage."""
    try:
        TableServiceClient.from_connection_string(connection)
    except ValueError as error:
        raise SettingsError(f"{setting} is not a storage connection string: {error}") from error
    for name, _, value in (part.partition("=") for part in connection.split(";")):
        if name.strip().lower() == "accountkey":
            try:
                base64.b64decode(value.strip(), validate=True)
            except binascii.Error as error:
                raise SettingsError(f"{setting}: its AccountKey is not base64 ({error}); copy the key again") from error


def describe_connection_string(connection: str) -> str:
    """What a connection string connects to and how it signs in, without its key or SAS."""
    parts = {name.strip().lower(): value for name, _, value in (part.partition("=") for part in connection.split(";"))}
    how = (
        "Azurite's development account"
        if connection == DEVELOPMENT_STORAGE
        else "an account key"
        if "accountkey" in parts
        else "a shared access signature"
        if "sharedaccesssignature" in parts
        else "no credential"
    )
    return f"connection string: {TableServiceClient.from_connection_string(connection).url} with {how}"


Lookup = Callable[[str], "str | None"]


def identity_connection(setting: str, lookup: Lookup) -> IdentityConnection | None:
    """The identity-based connection the `setting__…` settings make; None when there are none of them."""
    uri_setting = next((f"{setting}__{name}" for name in ("tableServiceUri", "serviceUri") if lookup(f"{setting}__{name}")), None)
    account = lookup(f"{setting}__accountName") if setting == ACCOUNT_NAME_SETTING else None
    if setting != ACCOUNT_NAME_SETTING and lookup(f"{setting}__accountName") and uri_setting is None:
        raise SettingsError(
            f"{setting}__accountName is read only for {ACCOUNT_NAME_SETTING}, as the host reads it; "
            f"give {setting}__tableServiceUri=https://<account>.table.core.windows.net"
        )
    credential, client_id, tenant_id, client_secret = (lookup(f"{setting}__{name}") for name in CREDENTIAL_PARTS)
    if uri_setting is None and account is None:
        given = [name for name, value in (("credential", credential), ("clientId", client_id), ("tenantId", tenant_id)) if value]
        if client_secret or given:
            first = f"{setting}__{given[0]}" if given else f"{setting}__clientSecret"
            names = f"{setting}__tableServiceUri" + (f" (or {setting}__accountName)" if setting == ACCOUNT_NAME_SETTING else "")
            raise SettingsError(f"{first} is set, but no {names} says which storage account to connect to")
        return None
    uri = (
        _table_service_uri(uri_setting, lookup(uri_setting))
        if uri_setting
        else f"https://{_account(setting, account)}.table.core.windows.net"
    )
    return IdentityConnection(setting, uri, *_credential(setting, credential, client_id, tenant_id, client_secret))


def _table_service_uri(setting: str, value: str | None) -> str:
    text = value or ""
    if any(character.isspace() or not character.isprintable() for character in text):
        raise SettingsError(f"{setting} has spaces or control characters in it; give the endpoint alone")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - reading it checks it
    except ValueError as error:
        raise SettingsError(f"{setting} is not a URL: {error}") from None
    if parts.scheme.lower() != "https":
        raise SettingsError(
            f"{setting} must be an https:// URL: the storage client never sends a token over {parts.scheme or 'no scheme'}"
        )
    if not parts.hostname:
        raise SettingsError(f"{setting} is not a URL with a host")
    if "?" in text or "#" in text or parts.username or parts.password:
        raise SettingsError(f"{setting} must be the Table endpoint alone, with no query (a SAS), fragment or user")
    if not _HOST.fullmatch(parts.hostname):
        raise SettingsError(f"{setting} must name its host by a DNS name or an IP address")
    segments = [segment for segment in parts.path.split("/") if segment]
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (segments and not local) or len(segments) > 1 or not all(_ACCOUNT.fullmatch(segment) for segment in segments):
        # Azure's endpoint has no path; an emulator's (path-style, on this machine) has the account's name alone
        raise SettingsError(f"{setting} must be the Table endpoint: no path (an emulator's: the account's name alone)")
    if any(f".{service}." in parts.hostname for service in ("blob", "queue", "file", "dfs")):
        raise SettingsError(f"{setting} names another storage service's endpoint; give the Table endpoint (.table.)")
    if parts.hostname == "localhost" and parts.port != 10002:
        # azure-data-tables takes localhost on any other port for Cosmos DB, and asks for a Cosmos DB token
        raise SettingsError(f"{setting}: use 127.0.0.1, not localhost, for a local Table endpoint on port {parts.port}")
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


def _account(setting: str, account: str | None) -> str:
    name = (account or "").strip()
    if not (3 <= len(name) <= 24 and name.isascii() and name.isalnum() and name.islower()):
        raise SettingsError(f"{setting}__accountName must be a storage account name (3 to 24 lower-case letters and digits)")
    return name


def _credential(
    setting: str, credential: str | None, client_id: str | None, tenant_id: str | None, client_secret: str | None
) -> tuple[IdentityKind, str | None, str | None, SecretStr | None]:
    if credential is not None:
        if credential.strip().lower() != "managedidentity":
            raise SettingsError(f"{setting}__credential must be managedidentity (or not set), not {credential[:40]!r}")
        if tenant_id or client_secret:
            extra = f"{setting}__tenantId" if tenant_id else f"{setting}__clientSecret"
            raise SettingsError(f"{extra} is for a service principal; with {setting}__credential=managedidentity remove it")
        return IdentityKind.MANAGED_IDENTITY, client_id, None, None
    if client_secret or tenant_id:
        missing = [f"{setting}__{name}" for name, value in (("tenantId", tenant_id), ("clientId", client_id)) if not value]
        if not client_secret:
            missing.append(f"{setting}__clientSecret")
        if missing:
            raise SettingsError(f"a service principal needs {', '.join(missing)} as well")
        assert client_secret is not None  # else it is missing, above
        return IdentityKind.SERVICE_PRINCIPAL, client_id, tenant_id, SecretStr(client_secret)
    if client_id:
        raise SettingsError(
            f"{setting}__clientId is set without {setting}__credential=managedidentity (a user-assigned identity) "
            f"or {setting}__tenantId and {setting}__clientSecret (a service principal)"
        )
    return IdentityKind.DEFAULT, None, None, None


@dataclass(frozen=True)
class StorageChoice:
    """The jobs' storage as the settings give it: a connection string, or an identity-based connection."""

    connection_string: str | None = None
    identity: IdentityConnection | None = None
    # Identity settings given beside a connection string, which wins: named, so that no one thinks they are used.
    ignored: tuple[str, ...] = ()


def choose_storage(primary: str, fallback: str, lookup: Lookup) -> StorageChoice:
    """The first of: `primary` (a connection string), `primary__…`, `fallback`, `fallback__…`."""
    for setting in (primary, fallback):
        given = lookup(setting)
        if given:
            connection = expand_connection_string(given)
            check_connection_string(connection, setting)
            ignored = tuple(f"{setting}__{name}" for name in ENDPOINT_PARTS + CREDENTIAL_PARTS if lookup(f"{setting}__{name}"))
            return StorageChoice(connection_string=connection, ignored=ignored)
        identity = identity_connection(setting, lookup)
        if identity is not None:
            return StorageChoice(identity=identity)
    raise SettingsError(
        f"set {primary} (or {fallback}) to a storage connection string, or {primary}__tableServiceUri "
        f"(or {fallback}__accountName) for a connection by identity"
    )
