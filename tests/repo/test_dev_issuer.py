"""Entra mode locally, as docs/access.md shows it: `scripts.dev_issuer` makes a key, its JWKS and a certificate,
prints the settings, and signs tokens that the dev host's Easy Auth takes and the app's roles judge."""

from __future__ import annotations

import shlex
import subprocess
import sys
import uuid

import pytest
import requests

from scripts.azurite import ROOT
from scripts.devhost_process import DevHostProcess

from ..builders import shippable_body

pytestmark = pytest.mark.azurite


def issuer(folder, *args: str) -> str:
    finished = subprocess.run(
        [sys.executable, "-m", "scripts.dev_issuer", "--folder", str(folder), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.strip()


def exported(lines: str) -> dict[str, str]:
    settings = {}
    for line in lines.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        settings[name] = shlex.split(value)[0]
    return settings


def test_the_local_issuer_walk_through(azurite, tmp_path):
    # given the issuer set up, and the dev host started with the settings it prints (what `make run` would read)
    settings = exported(issuer(tmp_path, "setup"))
    assert settings["IMPORTEXPORT_AUTH_MODE"] == "entra"
    assert exported(issuer(tmp_path, "env")) == settings  # the same settings every time, the same key
    job = f"/subscriptions/{uuid.uuid4()}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs/j1"
    with DevHostProcess(azurite, "Local" + uuid.uuid4().hex[:8], environment=settings) as host:
        base, trust = f"https://127.0.0.1:{host.port}", str(tmp_path / "cert.pem")
        http = requests.Session()
        http.trust_env, http.verify = False, trust

        def call(method: str, role: str | None, **kwargs) -> requests.Response:
            headers = {"Authorization": f"Bearer {issuer(tmp_path, 'token', role)}"} if role else {}
            return http.request(method, base + job, params={"api-version": "2021-01-01"}, headers=headers, timeout=30, **kwargs)

        # when a contributor creates a job, a reader tries to delete it, and someone without a token reads it
        created = call("PUT", "ImportExport.Contributor", json=shippable_body())
        refused = call("DELETE", "ImportExport.Reader")
        anonymous = call("GET", None)
        read = call("GET", "ImportExport.Reader")
    # then each is what the roles say
    assert created.status_code == 201 and created.json()["systemData"]["createdBy"] == "developer@contoso.example"
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AuthorizationFailed"
    assert anonymous.status_code == 401
    assert read.status_code == 200


def test_a_token_before_setup_is_one_line(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "scripts.dev_issuer", "--folder", str(tmp_path / "none"), "token", "X"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2 and "run `python -m scripts.dev_issuer setup` first" in finished.stderr
    assert "Traceback" not in finished.stderr
