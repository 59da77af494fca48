"""`python -m scripts.auth_level`: each auth mode's `authLevel` in every HTTP function, and back again unchanged."""

from __future__ import annotations

import json
import shutil

from scripts.auth_level import ROOT, set_auth_levels


def copy_of_functions(tmp_path):
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
