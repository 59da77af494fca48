"""`python -m scripts.auth_level`: each auth mode's `authLevel` in every HTTP function, and back again unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest
import requests

from scripts.auth_level import ROOT, set_auth_levels
from scripts.devhost_process import DevHostProcess


def copy_of_functions(tmp_path):
    shutil.copy(ROOT / "host.json", tmp_path / "host.json")
    for path in ROOT.glob("*/function.json"):
        (tmp_path / path.parent.name).mkdir()
        shutil.copy(path, tmp_path / path.parent.name / "function.json")
    return tmp_path


def levels(root) -> dict[str, str]:
    found = {}
    for path in root.glob("*/function.json"):
        for binding in json.loads(path.read_text())["bindings"]:
            if binding["type"] == "httpTrigger":
                found[path.parent.name] = binding["authLevel"]
    return found


def test_entra_makes_every_http_function_anonymous(tmp_path):
    root = copy_of_functions(tmp_path)
    set_auth_levels(root, "entra")
    assert set(levels(root).values()) == {"anonymous"}
    assert "purge_timer" not in levels(root)


def test_keys_restores_the_repositorys_files_byte_for_byte(tmp_path):
    # given the repository's function.json files, switched to entra
    root = copy_of_functions(tmp_path)
    set_auth_levels(root, "entra")
    # when switched back to keys
    set_auth_levels(root, "keys")
    # then every file is as the repository has it
    for path in ROOT.glob("*/function.json"):
        assert (root / path.parent.name / "function.json").read_text() == path.read_text(), path.parent.name


def test_the_repository_is_in_keys_mode(tmp_path):
    # the default mode is keys, so the repository's files are what keys writes
    assert set_auth_levels(copy_of_functions(tmp_path), "keys") == []
    assert levels(ROOT)["move_job"] == "admin" and levels(ROOT)["get_job"] == "function"


def app_copy(tmp_path):
    """The app's folders (functions, shared, host.json) copied, as a deployment package holds them."""
    ignored = shutil.ignore_patterns("__pycache__", "local.settings.json")
    for path in ROOT.glob("*/function.json"):
        shutil.copytree(path.parent, tmp_path / path.parent.name, ignore=ignored)
    shutil.copytree(ROOT / "shared", tmp_path / "shared", ignore=ignored)
    shutil.copy(ROOT / "host.json", tmp_path / "host.json")
    return tmp_path


@pytest.mark.azurite
def test_keys_mode_refuses_to_serve_anonymous_functions(azurite, tmp_path):
    # given the app switched to Entra's authLevel (anonymous) but left in keys mode, where no one would check a key
    root = app_copy(tmp_path)
    set_auth_levels(root, "entra")
    job = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ImportExport/jobs/j"
    with DevHostProcess(azurite, "Anon" + uuid.uuid4().hex[:8], root=root, capture_output=True) as host:
        # when anyone asks for a job
        answer = requests.get(f"http://127.0.0.1:{host.port}{job}", params={"api-version": "2021-01-01"}, timeout=30)
    # then the app refuses to serve, saying why in its log, rather than let an unchecked caller in as a key holder
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "InvalidConfiguration"
    assert "authLevel is anonymous" in host.output and "Traceback" not in host.output


def test_the_settings_check_names_anonymous_functions_in_keys_mode(tmp_path):
    root = app_copy(tmp_path)
    set_auth_levels(root, "entra")
    env = {**os.environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true", "IMPORTEXPORT_AUTH_MODE": "keys"}
    checked = subprocess.run(
        [sys.executable, "-m", "shared.settings"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 2 and "get_job" in checked.stderr and "authLevel anonymous" in checked.stderr
    entra = subprocess.run(
        [sys.executable, "-m", "shared.settings"],
        cwd=root,
        env={**env, "IMPORTEXPORT_AUTH_MODE": "entra"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert entra.returncode == 0, entra.stderr


def test_a_folder_that_is_not_a_function_app_is_one_line_and_changes_nothing(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "function.json").write_text("{}")
    for root in (tmp_path / "absent", tmp_path):
        result = subprocess.run(
            [sys.executable, "-m", "scripts.auth_level", "entra", "--root", str(root)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2 and "not a function app" in result.stderr and "Traceback" not in result.stderr
