"""App settings: environment variables first, then `local.settings.json`, as the Functions host reads them."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from .state_machine import Retention

APP_ROOT = Path(__file__).resolve().parent.parent

# Azurite's documented, public development account: what `UseDevelopmentStorage=true` means.
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)

CONNECTION_SETTING = "IMPORTEXPORT_STORAGE_CONNECTION"
FALLBACK_CONNECTION_SETTING = "AzureWebJobsStorage"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it."""


class Settings(BaseModel):
    storage_connection: str = Field(min_length=1)
    # The index table takes this name + "Expiry", and table names stop at 63 characters.
    table_name: str = Field(default="ImportExportJobs", pattern=r"^[A-Za-z][A-Za-z0-9]{2,56}$")
    retention_days: int = Field(default=90, ge=1, le=3650)
    creating_expiry_days: int = Field(default=14, ge=1, le=3650)
    purge_time_budget_seconds: int = Field(default=240, ge=1, le=3600)
    log_storage_requests: bool = False

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
}


def read_local_settings(app_root: Path = APP_ROOT) -> dict[str, str]:
    """The `Values` of `local.settings.json`, or nothing when there is no such file."""
    path = app_root / "local.settings.json"
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    except FileNotFoundError:
        return {}
    except (ValueError, AttributeError) as error:
        raise SettingsError(f"{path} is not a valid local.settings.json: {error}") from error
    return {str(name): str(value) for name, value in values.items()}


def expand_connection_string(connection: str) -> str:
    if connection.replace(" ", "").lower().startswith("usedevelopmentstorage=true"):
        return DEVELOPMENT_STORAGE
    return connection


def resolve_settings(environ: Mapping[str, str], local_values: Mapping[str, str]) -> Settings:
    def lookup(name: str) -> str | None:
        value = environ.get(name) or local_values.get(name)
        return value or None

    connection = lookup(CONNECTION_SETTING) or lookup(FALLBACK_CONNECTION_SETTING)
    if not connection:
        raise SettingsError(f"set {CONNECTION_SETTING} (or {FALLBACK_CONNECTION_SETTING}) to a storage connection string")
    fields = {field: value for name, field in SETTING_NAMES.items() if (value := lookup(name)) is not None}
    try:
        return Settings(storage_connection=expand_connection_string(connection), **fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{_setting_name(str(e['loc'][0]))}: {e['msg']}" for e in error.errors()
        )
        raise SettingsError(f"invalid app settings: {problems}") from error


def _setting_name(field: str) -> str:
    return next((name for name, f in SETTING_NAMES.items() if f == field), CONNECTION_SETTING)


@functools.cache
def load_settings() -> Settings:
    """The settings of this process, read once (the host restarts the app when they change)."""
    return resolve_settings(os.environ, read_local_settings())
