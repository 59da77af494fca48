"""The commands run by hand say in one line when the Python running them lacks the app's packages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scripts.azurite import ROOT


@pytest.mark.parametrize("module", ["shared.purge", "shared.migrate", "shared.settings"])
def test_a_python_without_the_apps_packages_is_told_which_python_to_use(module):
    # given a Python that cannot import the app's packages (this one, without its site-packages)
    # when a command is run with it
    result = subprocess.run([sys.executable, "-S", "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    # then it says so in one line, naming the Python to use, and no traceback; exit 2, as for settings to fix
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"python -m {module}: this Python") and f".venv/bin/python -m {module}" in line
