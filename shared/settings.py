"""App settings: environment variables first, then `local.settings.json`, as the Functions host reads them.

`load_settings()` reads them; only the composition root (`shared.app`) and the commands call it, once. Also a
command, `python -m shared.settings`: checks the settings as the app will read them and says what is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from .domain.access import AccessPolicy, AuthMode, RolesFileError, load_roles
from .domain.locations import LocationCatalogue, LocationsFileError, load_catalogue
from .domain.retention import Retention
from .storage_connection import DEVELOPMENT_STORAGE as DEVELOPMENT_STORAGE
from .storage_connection import IdentityConnection, choose_storage, describe_connection_string
from .storage_connection import SettingsError as SettingsError

APP_ROOT = Path(__file__).resolve().parent.parent
# The repository's catalogue of locations, unless IMPORTEXPORT_LOCATIONS_FILE names another.
DEFAULT_LOCATIONS_FILE = Path(__file__).resolve().parent / "locations.json"
# The repository's roles (Entra ID app roles and what each grants), unless IMPORTEXPORT_ROLES_FILE names another.
DEFAULT_ROLES_FILE = Path(__file__).resolve().parent / "roles.json"

CONNECTION_SETTING = "IMPORTEXPORT_STORAGE_CONNECTION"
FALLBACK_CONNECTION_SETTING = "AzureWebJobsStorage"
LOCATIONS_FILE_SETTING = "IMPORTEXPORT_LOCATIONS_FILE"
ROLES_FILE_SETTING = "IMPORTEXPORT_ROLES_FILE"
# Set by App Service when its Authentication ("Easy Auth") runs in front of the app; only then are the
# X-MS-CLIENT-PRINCIPAL headers the platform's and not a client's.
EASY_AUTH_SETTING = "WEBSITE_AUTH_ENABLED"


class Settings(BaseModel):
    """The app's settings, read and checked (`load_settings`), or given in code by tests and tools."""

    # The jobs' storage account: a connection string, or an identity-based connection (exactly one).
    storage_connection: str | None = Field(default=None, min_length=1, repr=False)  # it may hold an account key
    storage_identity: IdentityConnection | None = None
    # Identity settings beside the connection string, which wins over them (said by `describe_storage`).
    storage_settings_ignored: tuple[str, ...] = ()
    # Earlier versions kept an index table of this name + "Expiry", and table names stop at 63 characters: the
    # limit stays, so that every table those versions made is still a valid setting.
    table_name: str = Field(default="ImportExportJobs", pattern=r"^[A-Za-z][A-Za-z0-9]{2,56}$")
    retention_days: int = Field(default=90, ge=1, le=3650)
    creating_expiry_days: int = Field(default=14, ge=1, le=3650)
    purge_time_budget_seconds: int = Field(default=240, ge=1, le=3600)
    log_storage_requests: bool = False
    # Whether a proxy the operator runs sits in front and sets X-Forwarded-Host/-Proto: only then do they make links
    # (any client can send them).
    trust_forwarded_headers: bool = False
    # The datacenters jobs can be created in, read from the file IMPORTEXPORT_LOCATIONS_FILE names.
    locations: LocationCatalogue
    # Who may call: a Functions key (the host checks it), an Entra ID caller through Easy Auth, or both.
    auth_mode: AuthMode = AuthMode.KEYS
    easy_auth_enabled: bool = False
    # The app roles and what each grants, read from the file IMPORTEXPORT_ROLES_FILE names.
    access: AccessPolicy = Field(default_factory=lambda: read_roles(None))

    @model_validator(mode="after")
    def _one_storage(self) -> Settings:
        if (self.storage_connection is None) == (self.storage_identity is None):
            raise ValueError("give the storage as a connection string or an identity-based connection, one of them")
        return self

    def describe_storage(self) -> str:
        """Which storage account and how the app signs in to it, with no secret."""
        if self.storage_identity is not None:
            return self.storage_identity.describe()
        assert self.storage_connection is not None  # one of the two, by the validator
        described = describe_connection_string(self.storage_connection)
        if self.storage_settings_ignored:
            described += f" (it wins: {', '.join(self.storage_settings_ignored)} not used)"
        return described

    @property
    def retention(self) -> Retention:
        return Retention(finished=timedelta(days=self.retention_days), creating=timedelta(days=self.creating_expiry_days))


# Setting name -> Settings field; the connection is resolved separately for its fallback.
SETTING_NAMES = {
    "IMPORTEXPORT_TABLE_NAME": "table_name",
    "IMPORTEXPORT_RETENTION_DAYS": "retention_days",
    "IMPORTEXPORT_CREATING_EXPIRY_DAYS": "creating_expiry_days",
    "IMPORTEXPORT_PURGE_TIME_BUDGET_SECONDS": "purge_time_budget_seconds",
    "IMPORTEXPORT_LOG_STORAGE_REQUESTS": "log_storage_requests",
    "IMPORTEXPORT_TRUST_FORWARDED_HEADERS": "trust_forwarded_headers",
    "IMPORTEXPORT_AUTH_MODE": "auth_mode",
    EASY_AUTH_SETTING: "easy_auth_enabled",
}


def read_local_settings(app_root: Path = APP_ROOT) -> dict[str, str]:
    """The `Values` of `local.settings.json`, or nothing when there is no such file."""
    path = app_root / "local.settings.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise SettingsError(f"{path} is not a readable local.settings.json: {error}") from error
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: its Values must be a JSON object of setting names and values")
    return {str(name): str(value) for name, value in values.items()}


def resolve_settings(environ: Mapping[str, str], local_values: Mapping[str, str]) -> Settings:
    # The host reads the `X__…` names of an identity-based connection in any case, as it reads all configuration.
    folded = {name.lower(): value for values in (local_values, environ) for name, value in values.items() if "__" in name}

    def lookup(name: str) -> str | None:
        value = environ.get(name) or local_values.get(name) or ("__" in name and folded.get(name.lower()) or None)
        return value or None

    storage = choose_storage(CONNECTION_SETTING, FALLBACK_CONNECTION_SETTING, lookup)
    # The settings' text; Settings converts each to its field's type (an int, a bool) or says what is wrong.
    fields: dict[str, Any] = {field: value for name, field in SETTING_NAMES.items() if (value := lookup(name)) is not None}
    locations = read_locations(lookup(LOCATIONS_FILE_SETTING))
    access = read_roles(lookup(ROLES_FILE_SETTING))
    try:
        return Settings(
            storage_connection=storage.connection_string,
            storage_identity=storage.identity,
            storage_settings_ignored=storage.ignored,
            locations=locations,
            access=access,
            **fields,
        )
    except ValidationError as error:
        problems = "; ".join(f"{_setting_name(str(e['loc'][0]))}: {e['msg']}" for e in error.errors())
        raise SettingsError(f"invalid app settings: {problems}") from error


def read_locations(setting: str | None, app_root: Path = APP_ROOT) -> LocationCatalogue:
    """The catalogue in the file the setting names (relative to the app's folder), else the repository's own."""
    return _read_data_file(LOCATIONS_FILE_SETTING, setting, DEFAULT_LOCATIONS_FILE, load_catalogue, LocationsFileError, app_root)


def read_roles(setting: str | None, app_root: Path = APP_ROOT) -> AccessPolicy:
    """The roles in the file the setting names (relative to the app's folder), else the repository's own."""
    return _read_data_file(ROLES_FILE_SETTING, setting, DEFAULT_ROLES_FILE, load_roles, RolesFileError, app_root)


Loaded = TypeVar("Loaded")


def _read_data_file(
    name: str,
    setting: str | None,
    default: Path,
    load: Callable[[Path], Loaded],
    unusable: type[Exception],
    app_root: Path,
) -> Loaded:
    """A data file an app setting names (relative to the app's folder), else the repository's; a SettingsError
    naming the setting when the file it names is unusable."""
    path = default if setting is None else app_root / Path(setting).expanduser()
    try:
        return load(path)
    except unusable as error:
        source = f"{name}: " if setting is not None else ""
        raise SettingsError(f"{source}{error}") from error


def _setting_name(field: str) -> str:
    return next((name for name, f in SETTING_NAMES.items() if f == field), CONNECTION_SETTING)


def declared_anonymous(function_folder: Path) -> bool:
    """Whether the function in `function_folder` declares an HTTP trigger with authLevel anonymous (no key)."""
    try:
        bindings = json.loads((function_folder / "function.json").read_text(encoding="utf-8")).get("bindings", [])
    except (OSError, ValueError, AttributeError):
        return False  # not a function folder this app can read; the host would not load it either
    return any(
        isinstance(binding, dict) and binding.get("type") == "httpTrigger" and binding.get("authLevel") == "anonymous"
        for binding in bindings
    )


def anonymous_functions(app_root: Path = APP_ROOT) -> list[str]:
    """The function folders of the app whose HTTP trigger takes anonymous callers."""
    return sorted(path.parent.name for path in app_root.glob("*/function.json") if declared_anonymous(path.parent))


def load_settings() -> Settings:
    """The settings as the app reads them now: the environment, then `local.settings.json` (SettingsError when unusable).

    The host restarts the app when they change, so the app reads them once (`shared.app.current_app`).
    """
    return resolve_settings(os.environ, read_local_settings())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.settings", description="Check the app settings as the app reads them."
    )
    parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if not settings.auth_mode.takes_entra_callers and (anonymous := anonymous_functions()):
        print(
            f"{parser.prog}: IMPORTEXPORT_AUTH_MODE is keys, but {', '.join(anonymous)} take anonymous callers "
            "(authLevel anonymous), so no one checks a key: set IMPORTEXPORT_AUTH_MODE=entra or run "
            "python -m scripts.auth_level keys",
            file=sys.stderr,
        )
        return 2
    print(
        f"settings OK: jobs table {settings.table_name}; storage by {settings.describe_storage()}; "
        f"callers by {settings.auth_mode.value}"
        + (" (App Service Authentication on)" if settings.easy_auth_enabled else "")
        + f"; {len(settings.access.roles)} roles; {len(settings.locations.locations)} locations"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
