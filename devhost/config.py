"""The dev host's own configuration: the app folder's JSON files, `local.settings.json`, and the keys.

A mistake here stops the dev host before it serves anything, with one line that names the file or
variable to fix (`ConfigError`), never a traceback.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FUNCTION_KEY_VARIABLE = "DEVHOST_FUNCTION_KEY"
MASTER_KEY_VARIABLE = "DEVHOST_MASTER_KEY"


class ConfigError(Exception):
    """A setting or file the dev host cannot start with; the message says which and why, in one line."""


def read_json(path: Path) -> Any:
    """A JSON file of the app folder; a missing, unreadable or malformed one is a ConfigError naming it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} not found (is --root the function app folder?)") from None
    except OSError as error:
        raise ConfigError(f"{path} cannot be read: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None


def load_local_settings(root: Path) -> None:
    """Put `local.settings.json` Values into the environment, leaving variables already set alone, as `func` does."""
    path = root / "local.settings.json"
    if not path.exists():
        return
    settings = read_json(path)
    values = settings.get("Values", {}) if isinstance(settings, dict) else None
    if not isinstance(values, dict):
        raise ConfigError(f'{path}: "Values" must be an object of app settings')
    for name, value in values.items():
        os.environ.setdefault(name, str(value))


def _key(variable: str) -> str | None:
    """A key variable's value; blank or only whitespace is unset (else `?code=%20` would be a key)."""
    value = os.environ.get(variable, "")
    return value if value.strip() else None


@dataclass(frozen=True)
class Keys:
    """Function and master (admin) keys: both set, keys are checked like on Azure; neither, no key is checked,
    as under `func start`. One without the other is refused: the routes that need the missing key could never
    be called, while the dev host would look protected."""

    function_key: str | None = None
    master_key: str | None = None

    def __post_init__(self) -> None:
        if bool(self.function_key) != bool(self.master_key):
            given, missing = (
                (FUNCTION_KEY_VARIABLE, MASTER_KEY_VARIABLE)
                if self.function_key
                else (MASTER_KEY_VARIABLE, FUNCTION_KEY_VARIABLE)
            )
            raise ConfigError(f"{given} is set but {missing} is not: set both to check keys, or neither")
        if self.function_key and self.function_key == self.master_key:
            # The function key would open the admin routes: a caller given it for one route could run any.
            raise ConfigError(f"{FUNCTION_KEY_VARIABLE} and {MASTER_KEY_VARIABLE} are the same: give them different values")

    @classmethod
    def from_environment(cls) -> "Keys":
        return cls(_key(FUNCTION_KEY_VARIABLE), _key(MASTER_KEY_VARIABLE))

    @property
    def enforced(self) -> bool:
        return bool(self.function_key and self.master_key)

    def allows(self, auth_level: str, presented: str | None) -> bool:
        if not self.enforced or auth_level == "anonymous":
            return True
        assert self.function_key is not None and self.master_key is not None  # enforced: both are set
        accepted = [self.master_key] if auth_level == "admin" else [self.function_key, self.master_key]
        # Compared as bytes: compare_digest refuses str with non-ASCII characters, and a header may carry them.
        return presented is not None and any(hmac.compare_digest(presented.encode(), key.encode()) for key in accepted)
