"""`python -m scripts.app_roles`: the registration's app roles are the roles file's, with ids that never change."""

from __future__ import annotations

import json
import subprocess
import sys

from scripts.app_roles import app_roles
from scripts.azurite import ROOT
from shared.domain.access import RolesFile
from shared.settings import DEFAULT_ROLES_FILE

REPOSITORY_ROLES = RolesFile.model_validate_json(DEFAULT_ROLES_FILE.read_text())


def test_every_role_of_the_file_is_an_app_role_of_the_same_value():
    roles = app_roles(REPOSITORY_ROLES)
    assert [role["value"] for role in roles] == [role.name for role in REPOSITORY_ROLES.roles]
    assert all(role["allowedMemberTypes"] == ["User", "Application"] and role["isEnabled"] for role in roles)


def test_the_ids_are_the_same_on_every_run_and_differ_between_roles():
    first, second = app_roles(REPOSITORY_ROLES), app_roles(REPOSITORY_ROLES)
    assert [role["id"] for role in first] == [role["id"] for role in second]
    assert len({role["id"] for role in first}) == len(first)


def test_the_command_prints_json_and_refuses_a_missing_file_in_one_line(tmp_path):
    printed = subprocess.run([sys.executable, "-m", "scripts.app_roles"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0 and json.loads(printed.stdout)[0]["value"] == "ImportExport.Reader"
    refused = subprocess.run(
        [sys.executable, "-m", "scripts.app_roles", "--roles-file", str(tmp_path / "absent.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr


def test_a_file_the_app_would_refuse_is_refused_in_one_line(tmp_path):
    cases = {
        "duplicate": json.dumps({"roles": [{"name": "A", "actions": ["x/y"]}, {"name": "A", "actions": ["x/z"]}]}),
        "spaced": json.dumps({"roles": [{"name": "Has Space", "actions": ["x/y"]}]}),
        "latin1": b"\xff\xfe not utf-8",
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        refused = subprocess.run(
            [sys.executable, "-m", "scripts.app_roles", "--roles-file", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 2, name
        assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr, name
