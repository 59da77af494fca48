"""The README's curl walk-through works when pasted into a shell against the running app."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from scripts.azurite import ROOT


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- walkthrough[^>]*-->\s*```sh\n(.*?)```", readme, re.DOTALL)
    assert found, "README.md has no walk-through block"
    return found.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_walkthrough_runs_the_life_of_a_job(devhost):
    # given the walk-through, pointed at the test's app
    env = {**os.environ, "BASE": devhost.base_url}
    # when it is run in bash
    result = subprocess.run(["bash", "-e", "-c", walkthrough()], env=env, capture_output=True, text=True, timeout=120)
    # then every step answered as the README says
    statuses = re.findall(r"-> HTTP (\d+)", result.stdout)
    assert result.returncode == 0, result.stderr
    assert statuses == ["201", "200", "200", "409", "200", "200", "200", "200", "404"], result.stdout
    assert re.search(r'^etag: W/"datetime', result.stdout, re.IGNORECASE | re.MULTILINE), result.stdout
    assert '"cancelRequested":true' in result.stdout
    assert "The job is in state Shipping" in result.stdout
