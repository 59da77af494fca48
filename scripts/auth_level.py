"""Sets the `authLevel` of every HTTP function for an auth mode (docs/access.md), before deploying:

    python -m scripts.auth_level entra    # anonymous everywhere: App Service Authentication checks the token
    python -m scripts.auth_level keys     # the repository's levels: function, and admin for the operator's route
    python -m scripts.auth_level both     # the same as keys: the host checks a key, Easy Auth a token

Only the `authLevel` values change; the rest of each function.json is kept as written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The routes only the operator (the datacenter) calls; with keys, the master key guards them.
ADMIN_FUNCTIONS = frozenset({"move_job"})
_AUTH_LEVEL = re.compile(r'("authLevel"\s*:\s*)"[a-z]+"')


def level_for(mode: str, function: str) -> str:
    if mode == "entra":
        return "anonymous"
    return "admin" if function in ADMIN_FUNCTIONS else "function"


class NotAFunctionApp(Exception):
    """The folder is not a function app, or one of its function.json files cannot be read; the message says which."""


def set_auth_levels(root: Path, mode: str) -> list[str]:
    """Rewrites each HTTP function's `authLevel` for `mode`; returns the functions whose file changed."""
    if not (root / "host.json").is_file():
        raise NotAFunctionApp(f"{root} has no host.json: it is not a function app's folder")
    changed = []
    for path in sorted(root.glob("*/function.json")):
        text = path.read_text()
        try:
            bindings = json.loads(text).get("bindings", [])
        except (ValueError, AttributeError) as error:
            raise NotAFunctionApp(f"{path} is not a function.json: {error}") from None
        if not any(binding.get("type") == "httpTrigger" for binding in bindings):
            continue
        level = level_for(mode, path.parent.name)
        updated = _AUTH_LEVEL.sub(rf'\g<1>"{level}"', text)
        if updated != text:
            path.write_text(updated)
            changed.append(path.parent.name)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.auth_level", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("keys", "entra", "both"))
    parser.add_argument("--root", type=Path, default=ROOT, help="the function app's folder (default: this repository)")
    args = parser.parse_args(argv)
    try:
        changed = set_auth_levels(args.root, args.mode)
    except NotAFunctionApp as error:
        print(f"{parser.prog}: {error}; nothing changed", file=sys.stderr)
        return 2
    print(
        f"authLevel for {args.mode}: {len(changed)} function.json files changed" + (f" ({', '.join(changed)})" if changed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
