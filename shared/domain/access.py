"""Who may do what: the provider's actions, the callers, and the roles that grant actions over scopes, as ARM has them.

A caller is either a holder of a Functions key (the host checked the key; it may do everything, as before Entra ID)
or an Entra ID principal whose app roles (its token's `roles` claim) each grant a set of actions, optionally only
over listed subscriptions or resource groups. A refusal is ARM's 403 `AuthorizationFailed`, worded as ARM words it.
The roles are read from a JSON file (`load_roles`); the repository's is `shared/roles.json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .errors import AuthorizationFailed
from .names import PROVIDER, case_key


class AuthMode(StrEnum):
    """How callers prove who they are: a Functions key, an Entra ID token through App Service Authentication, or both."""

    KEYS = "keys"
    ENTRA = "entra"
    BOTH = "both"

    @property
    def takes_entra_callers(self) -> bool:
        return self is not AuthMode.KEYS


class Action(StrEnum):
    """The provider's actions, as its operations list names them, and the datacenter's move (the app's own)."""

    LOCATIONS_READ = f"{PROVIDER}/locations/read"
    JOBS_READ = f"{PROVIDER}/jobs/read"
    JOBS_WRITE = f"{PROVIDER}/jobs/write"
    JOBS_DELETE = f"{PROVIDER}/jobs/delete"
    LIST_BITLOCKER_KEYS = f"{PROVIDER}/jobs/listBitLockerKeys/action"
    # Not an ARM action (the real datacenter moves jobs inside the service): the operator's route here.
    MOVE_JOB_STATE = f"{PROVIDER}/jobs/moveState/action"


class CallerType(StrEnum):
    """What kind of caller made a change, in `systemData`'s words (`createdByType`), with `Key` for a Functions key."""

    USER = "User"
    APPLICATION = "Application"
    MANAGED_IDENTITY = "ManagedIdentity"
    KEY = "Key"


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the name `systemData` records, its kind, its object id (Entra ID) and its app roles."""

    name: str
    type: CallerType
    object_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)


# A Functions key names no one: the host checked it, and that is all the app knows of the caller.
KEY_CALLER = Caller(name="Functions key", type=CallerType.KEY)


def _scope_segments(scope: str) -> tuple[str, ...]:
    # ARM compares scopes without regard to case; names here compare by `case_key`, as the store does.
    return tuple(case_key(part) for part in scope.strip("/").split("/") if part)


_ScopeText = Annotated[str, StringConstraints(pattern=r"^/subscriptions/[^/]+(/resourceGroups/[^/]+)?/?$")]
_ActionText = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.]+(/[A-Za-z0-9*]+)*$", max_length=200)]


class RoleDefinition(BaseModel):
    """One role as the roles file writes it (ARM's role definitions in small): its app role value, actions, scopes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    description: str = ""
    actions: Annotated[list[_ActionText], Field(min_length=1)]
    # Where the role applies; absent: every subscription. Provider-level reads (the locations) are not in any
    # subscription, so a role that grants them grants them whatever its scopes.
    scopes: list[_ScopeText] | None = None


class RolesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[RoleDefinition]


@dataclass(frozen=True)
class Role:
    """An app role: the actions it grants (ARM's patterns: `*` matches the rest) over its scopes (None: everywhere)."""

    name: str
    actions: tuple[str, ...]
    scopes: tuple[tuple[str, ...], ...] | None = None

    @classmethod
    def from_definition(cls, definition: RoleDefinition) -> Role:
        scopes = None if definition.scopes is None else tuple(_scope_segments(scope) for scope in definition.scopes)
        return cls(definition.name, tuple(action.lower() for action in definition.actions), scopes)

    def grants(self, action: Action, scope: str) -> bool:
        return self._allows(action) and self._covers(scope)

    def _allows(self, action: Action) -> bool:
        wanted = action.value.lower()
        return any(wanted == pattern or (pattern.endswith("*") and wanted.startswith(pattern[:-1])) for pattern in self.actions)

    def _covers(self, scope: str) -> bool:
        segments = _scope_segments(scope)
        if self.scopes is None or not segments or segments[0] != "subscriptions":
            return True
        return any(segments[: len(granted)] == granted for granted in self.scopes)


@dataclass(frozen=True)
class AccessPolicy:
    """The roles the app knows, by app role value; `authorize` says whether a caller may act over a scope."""

    roles: Mapping[str, Role]

    @classmethod
    def of(cls, roles: Iterable[Role]) -> AccessPolicy:
        return cls({role.name: role for role in roles})

    def allows(self, caller: Caller, action: Action, scope: str) -> bool:
        if caller.type is CallerType.KEY:
            return True
        return any(role.grants(action, scope) for name in caller.roles if (role := self.roles.get(name)) is not None)

    def authorize(self, caller: Caller, action: Action, scope: str) -> None:
        """Nothing when the caller may; else ARM's 403, naming the caller, the action and the scope."""
        if not self.allows(caller, action, scope):
            raise AuthorizationFailed(
                f"The client '{caller.name}' with object id '{caller.object_id or caller.name}' does not have "
                f"authorization to perform action '{action.value}' over scope '{scope}' or the scope is invalid. "
                "If access was recently granted, please refresh your credentials."
            )


class RolesFileError(Exception):
    """The roles file cannot be read or is not a list of roles; the message names the file and the flaw."""


def load_roles(path: Path) -> AccessPolicy:
    """The roles in the JSON file at `path` (`RolesFileError` when unusable)."""
    try:
        document = RolesFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise RolesFileError(f"{path}: no such roles file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RolesFileError(f"{path} is not a readable JSON file: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
        raise RolesFileError(f"{path} is not a roles file: {problems}") from None
    names = [role.name for role in document.roles]
    if duplicated := sorted({name for name in names if names.count(name) > 1}):
        raise RolesFileError(f"{path}: role {duplicated[0]!r} is defined more than once")
    return AccessPolicy.of(Role.from_definition(definition) for definition in document.roles)
