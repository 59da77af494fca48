"""Settings: environment first, then local.settings.json, with clear errors."""

import json

import pytest

from shared.settings import DEVELOPMENT_STORAGE, SettingsError, read_local_settings, resolve_settings


def test_environment_wins_over_local_settings():
    settings = resolve_settings(
        {"IMPORTEXPORT_STORAGE_CONNECTION": "env-conn", "IMPORTEXPORT_RETENTION_DAYS": "30"},
        {"IMPORTEXPORT_STORAGE_CONNECTION": "file-conn", "IMPORTEXPORT_TABLE_NAME": "FromFile"},
    )
    assert settings.storage_connection == "env-conn"
    assert settings.retention_days == 30
    assert settings.table_name == "FromFile"
    assert settings.creating_expiry_days == 14


def test_jobs_connection_falls_back_to_azure_web_jobs_storage():
    assert resolve_settings({}, {"AzureWebJobsStorage": "jobs-host-conn"}).storage_connection == "jobs-host-conn"


def test_development_storage_means_azurite():
    assert resolve_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, {}).storage_connection == DEVELOPMENT_STORAGE


def test_missing_connection_names_the_setting():
    with pytest.raises(SettingsError, match="IMPORTEXPORT_STORAGE_CONNECTION"):
        resolve_settings({}, {})


@pytest.mark.parametrize(
    "name,value",
    [
        ("IMPORTEXPORT_RETENTION_DAYS", "soon"),
        ("IMPORTEXPORT_RETENTION_DAYS", "0"),
        ("IMPORTEXPORT_TABLE_NAME", "bad-name"),
        ("IMPORTEXPORT_LOG_STORAGE_REQUESTS", "sometimes"),
    ],
)
def test_invalid_values_name_the_setting(name, value):
    with pytest.raises(SettingsError, match=name):
        resolve_settings({"AzureWebJobsStorage": "x", name: value}, {})


def test_storage_request_logging_is_off_unless_asked_for():
    assert resolve_settings({"AzureWebJobsStorage": "x"}, {}).log_storage_requests is False
    assert resolve_settings({"AzureWebJobsStorage": "x", "IMPORTEXPORT_LOG_STORAGE_REQUESTS": "true"}, {}).log_storage_requests is True


def test_local_settings_file_is_read(tmp_path):
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"IMPORTEXPORT_TABLE_NAME": "Local"}}))
    assert read_local_settings(tmp_path) == {"IMPORTEXPORT_TABLE_NAME": "Local"}
    assert read_local_settings(tmp_path / "absent") == {}


def test_every_app_setting_is_documented_and_in_the_example_file():
    # given the settings the app reads, and the README and example settings a user starts from
    from shared.settings import APP_ROOT, CONNECTION_SETTING, FALLBACK_CONNECTION_SETTING, SETTING_NAMES

    names = {*SETTING_NAMES, CONNECTION_SETTING, FALLBACK_CONNECTION_SETTING, "IMPORTEXPORT_PURGE_SCHEDULE"}
    readme = (APP_ROOT / "README.md").read_text()
    example = json.loads((APP_ROOT / "local.settings.example.json").read_text())["Values"]
    # then each is in the README's configuration table and in the example file, whose values are valid
    assert [name for name in sorted(names) if f"| `{name}` |" not in readme] == []
    assert sorted(names - set(example)) == []
    resolve_settings({}, example)
