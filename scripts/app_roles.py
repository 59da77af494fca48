"""Prints the app roles of the app's Entra ID registration, made from the roles file the app reads (docs/deploying.md):

    python -m scripts.app_roles > app-roles.json     # then: az ad app create ... --app-roles @app-roles.json
    python -m scripts.app_roles --roles-file my-roles.json

Each role of the file becomes an app role any user, group or application can be assigned, with the same value, so
the `roles` claim of a caller's token names roles the app knows. Each role's id is derived from its name, so running
this again gives the same ids and an update of the registration keeps every assignment.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from pathlib import Path

from shared.domain.access import RolesFile, RolesFileError, load_roles
from shared.settings import DEFAULT_ROLES_FILE

# A namespace of our own for the ids (uuid5 of the role's name): stable, and unlike any other app's.
ROLE_ID_NAMESPACE = uuid.UUID("4f1d9a7e-3c55-4b0e-9a43-1d6b2f3c7e10")
# What Entra ID takes as an app role's value.
APP_ROLE_VALUE = re.compile(r"[A-Za-z0-9._-]+")


def app_roles(document: RolesFile) -> list[dict[str, object]]:
    return [
        {
            "allowedMemberTypes": ["User", "Application"],
            "description": role.description or role.name,
            "displayName": role.name,
            "id": str(uuid.uuid5(ROLE_ID_NAMESPACE, role.name)),
            "isEnabled": True,
            "value": role.name,
        }
        for role in document.roles
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.app_roles", description=__doc__.splitlines()[0])
    parser.add_argument("--roles-file", type=Path, default=DEFAULT_ROLES_FILE)
    args = parser.parse_args(argv)
    try:
        load_roles(args.roles_file)  # refused as the app would refuse it: the same file, the same words
        document = RolesFile.model_validate_json(args.roles_file.read_bytes())
    except RolesFileError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 2
    spaced = [role.name for role in document.roles if not APP_ROLE_VALUE.fullmatch(role.name)]
    if spaced:
        print(
            f"{parser.prog}: {spaced[0]!r} cannot be an app role value (no spaces; letters, digits and . _ - only)",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(app_roles(document), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
