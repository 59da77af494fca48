"""The jobs' storage from the settings: a connection string wins; else an identity-based connection, whose every
half-made form is one error naming the setting; and no description ever shows a secret."""

from __future__ import annotations

import pytest

from shared.settings import resolve_settings
from shared.storage_connection import DEVELOPMENT_STORAGE, IdentityKind, SettingsError

X = "IMPORTEXPORT_STORAGE_CONNECTION"
W = "AzureWebJobsStorage"
URI = "https://jobsacct.table.core.windows.net"
KEYED = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0LWtleQ==;EndpointSuffix=core.windows.net"


def storage(**values: str):
    settings = resolve_settings(values, {})
    return settings.storage_connection, settings.storage_identity


def test_a_connection_string_wins_over_an_identity():
    connection, identity = storage(**{X: KEYED, f"{X}__tableServiceUri": URI, f"{X}__credential": "managedidentity"})
    assert (connection, identity) == (KEYED, None)


def test_the_jobs_identity_wins_over_the_hosts_connection_string():
    # IMPORTEXPORT_STORAGE_CONNECTION, in either form, comes before AzureWebJobsStorage
    connection, identity = storage(**{W: "UseDevelopmentStorage=true", f"{X}__tableServiceUri": URI})
    assert connection is None and identity.table_service_uri == URI and identity.setting == X


def test_a_system_assigned_managed_identity():
    _, identity = storage(**{f"{X}__tableServiceUri": URI + "/", f"{X}__credential": "ManagedIdentity"})
    assert (identity.table_service_uri, identity.kind, identity.client_id) == (URI, IdentityKind.MANAGED_IDENTITY, None)


def test_a_user_assigned_managed_identity():
    _, identity = storage(**{f"{X}__serviceUri": URI, f"{X}__credential": "managedidentity", f"{X}__clientId": "cid"})
    assert (identity.kind, identity.client_id) == (IdentityKind.MANAGED_IDENTITY, "cid")


def test_a_service_principal_for_local_development():
    values = {f"{X}__tableServiceUri": URI, f"{X}__tenantId": "t", f"{X}__clientId": "c", f"{X}__clientSecret": "s3cr3t"}
    _, identity = storage(**values)
    assert (identity.kind, identity.tenant_id, identity.client_id) == (IdentityKind.SERVICE_PRINCIPAL, "t", "c")


def test_the_uri_alone_is_default_azure_credential():
    assert storage(**{f"{X}__tableServiceUri": URI})[1].kind is IdentityKind.DEFAULT


def test_the_hosts_account_name_form():
    _, identity = storage(**{f"{W}__accountName": "hostacct", f"{W}__credential": "managedidentity"})
    assert identity.table_service_uri == "https://hostacct.table.core.windows.net" and identity.setting == W


def test_account_name_is_only_the_hosts_form():
    # the host reads __accountName for AzureWebJobsStorage alone; for the jobs' connection it says nothing
    with pytest.raises(SettingsError, match=f"{X}__accountName is read only for {W}"):
        storage(**{f"{X}__accountName": "acct", f"{X}__credential": "managedidentity"})


@pytest.mark.parametrize(
    "values,named",
    [
        ({f"{X}__tableServiceUri": "http://jobsacct.table.core.windows.net"}, f"{X}__tableServiceUri must be an https://"),
        ({f"{X}__tableServiceUri": "jobsacct.table.core.windows.net"}, f"{X}__tableServiceUri must be an https://"),
        ({f"{X}__tableServiceUri": URI + "?sv=2024&sig=abc"}, "no query"),
        ({f"{X}__tableServiceUri": "https://"}, "not a URL with a host"),
        ({f"{X}__tableServiceUri": "https://[::1"}, f"{X}__tableServiceUri is not a URL"),
        ({f"{X}__tableServiceUri": "https://a\nb.table.core.windows.net"}, "spaces or control characters"),
        ({f"{X}__tableServiceUri": " " + URI}, "spaces or control characters"),
        ({f"{X}__tableServiceUri": URI + "?"}, "no query"),
        ({f"{X}__tableServiceUri": URI + "/x/.."}, "must be the Table endpoint: no path"),
        ({f"{X}__tableServiceUri": URI + "/;SharedAccessSignature=sv=2020&sig=S"}, "must be the Table endpoint: no path"),
        ({f"{X}__tableServiceUri": "https://jobsacct.table.core.windows.net;sig=S"}, "DNS name or an IP address"),
        ({f"{X}__tableServiceUri": URI + "/devstoreaccount1"}, "must be the Table endpoint: no path"),
        ({f"{X}__tableServiceUri": " "}, "spaces or control characters"),
        ({f"{X}__tableServiceUri": "https://127.0.0.1:99999/a"}, f"{X}__tableServiceUri is not a URL"),
        ({f"{X}__tableServiceUri": "https://localhost:11002/acct"}, "use 127.0.0.1, not localhost"),
        ({f"{X}__serviceUri": "https://jobsacct.blob.core.windows.net"}, "another storage service's endpoint"),
        (
            {f"{X}__tableServiceUri": URI, f"{X}__clientId": "cid"},
            f"{X}__clientId is set without {X}__credential=managedidentity",
        ),
        ({f"{X}__tableServiceUri": URI, f"{X}__credential": "connectionstring"}, f"{X}__credential must be managedidentity"),
        ({f"{X}__tableServiceUri": URI, f"{X}__clientSecret": "s"}, f"needs {X}__tenantId, {X}__clientId"),
        ({f"{X}__tableServiceUri": URI, f"{X}__tenantId": "t", f"{X}__clientId": "c"}, f"needs {X}__clientSecret"),
        (
            {f"{X}__tableServiceUri": URI, f"{X}__credential": "managedidentity", f"{X}__clientSecret": "s"},
            f"{X}__clientSecret is for a service principal",
        ),
        ({f"{X}__credential": "managedidentity"}, f"{X}__credential is set, but no {X}__tableServiceUri"),
        ({f"{W}__clientId": "cid"}, f"{W}__clientId is set, but no {W}__tableServiceUri \\(or {W}__accountName\\)"),
        ({f"{W}__accountName": "Not_An_Account"}, f"{W}__accountName must be a storage account name"),
        ({}, f"set {X} \\(or {W}\\) to a storage connection string, or {X}__tableServiceUri"),
    ],
)
def test_a_half_made_identity_is_one_error_naming_the_setting(values, named):
    with pytest.raises(SettingsError, match=named):
        storage(**values)


class TestNoSecretIsShown:
    def test_a_service_principal_is_described_without_its_secret(self):
        values = {f"{X}__tableServiceUri": URI, f"{X}__tenantId": "t", f"{X}__clientId": "c", f"{X}__clientSecret": "s3cr3t"}
        settings = resolve_settings(values, {})
        assert "s3cr3t" not in settings.describe_storage()
        assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings)
        assert "service principal (tenant t, client id c" in settings.describe_storage()

    def test_a_keyed_connection_string_is_described_without_its_key(self):
        described = resolve_settings({X: KEYED}, {}).describe_storage()
        assert "c2VjcmV0LWtleQ" not in described and "an account key" in described

    def test_a_sas_connection_string_is_described_without_its_signature(self):
        sas = "TableEndpoint=https://a.table.core.windows.net/;SharedAccessSignature=sv=2024&sig=c2lnbmF0dXJl"
        described = resolve_settings({X: sas}, {}).describe_storage()
        assert "c2lnbmF0dXJl" not in described and "a shared access signature" in described

    def test_development_storage_is_named_as_such(self):
        described = resolve_settings({W: "UseDevelopmentStorage=true"}, {}).describe_storage()
        assert "Azurite's development account" in described
        assert resolve_settings({W: "UseDevelopmentStorage=true"}, {}).storage_connection == DEVELOPMENT_STORAGE


def test_identity_setting_names_are_read_in_any_case():
    # the Functions host reads configuration names without regard to case
    _, identity = storage(**{f"{X}__TABLESERVICEURI": URI, f"{X}__Credential": "managedidentity", f"{X}__CLIENTID": "cid"})
    assert (identity.table_service_uri, identity.kind, identity.client_id) == (URI, IdentityKind.MANAGED_IDENTITY, "cid")


def test_identity_settings_beside_a_winning_connection_string_are_named_as_unused():
    settings = resolve_settings({X: KEYED, f"{X}__credential": "managedidentity", f"{X}__tableServiceUri": URI}, {})
    assert "not used" in settings.describe_storage() and f"{X}__credential" in settings.describe_storage()


def test_the_client_secret_never_shows_in_a_dump_or_a_repr():
    values = {f"{X}__tableServiceUri": URI, f"{X}__tenantId": "t", f"{X}__clientId": "c", f"{X}__clientSecret": "s3cr3t"}
    settings = resolve_settings(values, {})
    assert "s3cr3t" not in str(settings.model_dump()) and "s3cr3t" not in repr(settings.storage_identity)


def test_an_account_key_never_shows_in_the_settings_repr():
    assert "c2VjcmV0LWtleQ" not in repr(resolve_settings({X: KEYED}, {}))


def test_an_emulators_path_style_endpoint_names_its_account():
    _, identity = storage(**{f"{X}__tableServiceUri": "https://127.0.0.1:11002/jobsacct"})
    assert identity.table_service_uri == "https://127.0.0.1:11002/jobsacct"
