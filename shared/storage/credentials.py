"""How the app signs in to storage: an account's connection string, or its Table endpoint and an azure-identity
credential (a managed identity, a service principal, or DefaultAzureCredential), built from the settings.

The credential's token requests run on the app's storage transport, so a request's storage deadline bounds them
too, and any failure to get a token comes out as one error (`StorageSignInFailed`) that carries no HTTP response:
azure-data-tables would otherwise read an Entra ID error response as if storage had sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError

from ..storage_connection import IdentityConnection, IdentityKind


class StorageSignInFailed(ClientAuthenticationError):
    """The app could not get a token for storage (no identity, its endpoint down or refusing, a wrong secret)."""


class SignInCredential:
    """An azure-identity credential whose failures are `StorageSignInFailed`, with the reason and no response."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        try:
            token: AccessToken = self._inner.get_token(*scopes, **kwargs)
        except AzureError as error:
            reason = (str(getattr(error, "message", None) or error).strip().splitlines() or ["no reason given"])[0][:240]
            raise StorageSignInFailed(f"{type(error).__name__}: {reason}") from None
        return token

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class StorageAccount:
    """Where the jobs' account is and how the app signs in: a connection string (with its key or SAS), or a Table
    endpoint and an Entra ID token credential (`account_by_identity`)."""

    connection_string: str | None = None
    endpoint: str | None = None
    credential: TokenCredential | None = None

    def close(self) -> None:
        """Closes the credential's own connections (a managed identity's token endpoint, say), if it has any."""
        close = getattr(self.credential, "close", None)
        if close is not None:
            close()


# A connection string, or an account reached by identity.
Account = str | StorageAccount


def account_by_identity(identity: IdentityConnection, **pipeline: Any) -> StorageAccount:
    """The account of an identity-based connection, with the azure-identity credential its settings ask for;
    `pipeline` is the app's storage transport and retry options, which its token requests use too."""
    import azure.identity  # here, not at the top: only an app that signs in by identity pays for importing it

    inner: Any
    if identity.kind is IdentityKind.MANAGED_IDENTITY:
        inner = azure.identity.ManagedIdentityCredential(client_id=identity.client_id, **pipeline)
    elif identity.kind is IdentityKind.SERVICE_PRINCIPAL:
        assert identity.tenant_id and identity.client_id and identity.client_secret  # the settings checked them
        secret = identity.client_secret.get_secret_value()
        inner = azure.identity.ClientSecretCredential(identity.tenant_id, identity.client_id, secret, **pipeline)
    else:
        inner = azure.identity.DefaultAzureCredential(**pipeline)
    return StorageAccount(endpoint=identity.table_service_uri, credential=SignInCredential(inner))
