"""Settings: environment first, then local.settings.json, with clear errors."""

import json
import os
import subprocess
import sys

import pytest

from shared.settings import APP_ROOT, DEVELOPMENT_STORAGE, SettingsError, read_local_settings, resolve_settings

ENV_ACCOUNT = "DefaultEndpointsProtocol=https;AccountName=envacct;AccountKey=ZW52LWtleQ==;EndpointSuffix=core.windows.net"
FILE_ACCOUNT = "DefaultEndpointsProtocol=https;AccountName=fileacct;AccountKey=ZmlsZS1rZXk=;EndpointSuffix=core.windows.net"


def test_environment_wins_over_local_settings():
    settings = resolve_settings(
        {"IMPORTEXPORT_STORAGE_CONNECTION": ENV_ACCOUNT, "IMPORTEXPORT_RETENTION_DAYS": "30"},
        {"IMPORTEXPORT_STORAGE_CONNECTION": FILE_ACCOUNT, "IMPORTEXPORT_TABLE_NAME": "FromFile"},
    )
    assert settings.storage_connection == ENV_ACCOUNT
    assert settings.retention_days == 30
    assert settings.table_name == "FromFile"
    assert settings.creating_expiry_days == 14


def test_jobs_connection_falls_back_to_azure_web_jobs_storage():
    assert resolve_settings({}, {"AzureWebJobsStorage": FILE_ACCOUNT}).storage_connection == FILE_ACCOUNT


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
        resolve_settings({"AzureWebJobsStorage": ENV_ACCOUNT, name: value}, {})


@pytest.mark.parametrize(
    "connection,problem",
    [
        (
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=not base64!;EndpointSuffix=core.windows.net",
            "AccountKey is not base64",
        ),
        ("garbage", "not a storage connection string"),
        ("DefaultEndpointsProtocol=https;AccountName=a", "not a storage connection string"),
    ],
)
def test_an_unusable_connection_string_is_a_settings_error_naming_the_setting(connection, problem):
    # given a connection string storage could never accept
    # when the settings are read, then they are refused with the setting's name and the reason
    with pytest.raises(SettingsError, match=f"IMPORTEXPORT_STORAGE_CONNECTION.*{problem}"):
        resolve_settings({"IMPORTEXPORT_STORAGE_CONNECTION": connection}, {})


def test_storage_request_logging_is_off_unless_asked_for():
    assert resolve_settings({"AzureWebJobsStorage": ENV_ACCOUNT}, {}).log_storage_requests is False
    assert (
        resolve_settings(
            {"AzureWebJobsStorage": ENV_ACCOUNT, "IMPORTEXPORT_LOG_STORAGE_REQUESTS": "true"}, {}
        ).log_storage_requests
        is True
    )


def test_local_settings_file_is_read(tmp_path):
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"IMPORTEXPORT_TABLE_NAME": "Local"}}))
    assert read_local_settings(tmp_path) == {"IMPORTEXPORT_TABLE_NAME": "Local"}
    assert read_local_settings(tmp_path / "absent") == {}


def test_every_app_setting_is_documented_and_in_the_example_file():
    # given the settings the app reads, and the configuration page and example settings a user starts from
    from shared.settings import (
        APP_ROOT,
        CONNECTION_SETTING,
        EASY_AUTH_SETTING,
        FALLBACK_CONNECTION_SETTING,
        LOCATIONS_FILE_SETTING,
        ROLES_FILE_SETTING,
        SETTING_NAMES,
    )

    names = {
        *SETTING_NAMES,
        CONNECTION_SETTING,
        FALLBACK_CONNECTION_SETTING,
        LOCATIONS_FILE_SETTING,
        ROLES_FILE_SETTING,
        "IMPORTEXPORT_PURGE_SCHEDULE",
    }
    configuration = (APP_ROOT / "docs" / "configuration.md").read_text()
    example = json.loads((APP_ROOT / "local.settings.example.json").read_text())["Values"]
    # then each is in the configuration page's table and in the example file, whose values are valid
    assert [name for name in sorted(names) if f"| `{name}` |" not in configuration] == []
    # (but the one the platform sets, App Service Authentication's flag, which a user never does)
    assert sorted(names - set(example) - {EASY_AUTH_SETTING}) == []
    resolve_settings({}, example)


def test_the_check_command_says_in_one_line_what_is_wrong():
    # given a connection string whose key is not base64
    env = {**os.environ, "IMPORTEXPORT_STORAGE_CONNECTION": "AccountName=a;AccountKey=%%;TableEndpoint=http://127.0.0.1:1/a"}
    # when the settings are checked
    result = subprocess.run(
        [sys.executable, "-m", "shared.settings"], cwd=APP_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    # then one line names the setting and the problem, and the exit code is 2
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "python -m shared.settings: IMPORTEXPORT_STORAGE_CONNECTION: its AccountKey is not base64 "
        "(Only base64 data is allowed); copy the key again"
    ]


@pytest.mark.parametrize("content", ['{"Values": [1]}', "[]", '"text"', '{"Values": "x"}'])
def test_a_local_settings_file_of_the_wrong_shape_is_a_settings_error(tmp_path, content):
    # given a local.settings.json that is JSON but not an object with a Values object
    (tmp_path / "local.settings.json").write_text(content)
    # when it is read, then the error names the file and what it must hold
    with pytest.raises(SettingsError, match="Values must be a JSON object"):
        read_local_settings(tmp_path)


def test_a_local_settings_folder_is_a_settings_error(tmp_path):
    # given a folder where the file should be
    (tmp_path / "local.settings.json").mkdir()
    # when it is read, then the error names it
    with pytest.raises(SettingsError, match="local.settings.json"):
        read_local_settings(tmp_path)


def test_the_locations_are_the_repositorys_file_unless_the_setting_names_another(tmp_path):
    # given no locations setting, a relative one (read from the app's folder), and an absolute one
    other = tmp_path / "mine.json"
    other.write_text(json.dumps({"locations": [{"name": "lab", "displayName": "Lab"}]}))
    default = resolve_settings({"AzureWebJobsStorage": ENV_ACCOUNT}, {}).locations
    relative = resolve_settings(
        {"AzureWebJobsStorage": ENV_ACCOUNT, "IMPORTEXPORT_LOCATIONS_FILE": "shared/locations.json"}, {}
    ).locations
    absolute = resolve_settings({"AzureWebJobsStorage": ENV_ACCOUNT}, {"IMPORTEXPORT_LOCATIONS_FILE": str(other)}).locations
    # then the first two are the repository's catalogue and the last is the other file's
    assert default == relative
    assert default.find("West US").name == "westus"
    assert [location.name for location in absolute.locations] == ["lab"]


def test_the_repositorys_locations_are_named_as_arm_names_them():
    # given the repository's catalogue (the service's recorded list)
    locations = resolve_settings({"AzureWebJobsStorage": ENV_ACCOUNT}, {}).locations.locations
    # then region names are lower-case and display names unique
    assert all(location.name.islower() for location in locations)
    assert len({location.display_name.lower() for location in locations}) == len(locations)


def test_the_check_command_names_a_bad_locations_file_in_one_line(tmp_path):
    # given a locations file that is not JSON
    bad = tmp_path / "locations.json"
    bad.write_text("{")
    env = {**os.environ, "AzureWebJobsStorage": ENV_ACCOUNT, "IMPORTEXPORT_LOCATIONS_FILE": str(bad)}
    env.pop("IMPORTEXPORT_STORAGE_CONNECTION", None)
    # when the settings are checked
    result = subprocess.run(
        [sys.executable, "-m", "shared.settings"], cwd=APP_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    # then one line names the setting and the file, and the exit code is 2
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        f"python -m shared.settings: IMPORTEXPORT_LOCATIONS_FILE: the locations file {bad} is not readable JSON"
    )
