"""The layer contract (`.importlinter`, run by `make lint`) holds for the code, and it is not vacuous: an import
that goes up a layer, or into the dev host, breaks it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.azurite import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def the_app_in(folder: Path) -> Path:
    """A copy of the app's packages and its contract in `folder`, to break on purpose."""
    for entry in ROOT.iterdir():
        if entry.is_dir() and ((entry / "__init__.py").exists()) and entry.name not in ("tests", "bench", "scripts"):
            shutil.copytree(entry, folder / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", folder)
    return folder


def lint_imports(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_app_keeps_its_layers(tmp_path):
    result = lint_imports(the_app_in(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("shared/domain/job.py", "from ..storage import entities", "shared.domain is not allowed to import shared.storage"),
        ("shared/storage/entities.py", "from ..api import versions", "shared.storage is not allowed to import shared.api"),
        ("shared/api/http.py", "from ..ops import purge", "shared.api is not allowed to import shared.ops"),
        ("shared/settings.py", "from .app import App", "shared.settings is not allowed to import shared.app"),
        ("get_job/__init__.py", "from shared.storage import job_table", "get_job is not allowed to import shared.storage"),
        ("shared/app.py", "import devhost", "shared is not allowed to import devhost"),
        ("get_job/__init__.py", "import devhost.server", "get_job is not allowed to import devhost"),
    ],
)
def test_an_import_across_the_layers_breaks_the_contract(tmp_path, module, line, broken):
    # given the app with one import that goes where its layer may not
    app = the_app_in(tmp_path)
    path = app / module
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402, F401\n")
    # when the contract is checked
    result = lint_imports(app)
    # then it fails, naming the import
    assert result.returncode == 1, result.stdout
    assert broken in " ".join(result.stdout.split()), result.stdout
