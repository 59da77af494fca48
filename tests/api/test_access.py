"""Access: keys gate every route by its auth level, scopes never leak into each other, no secret is in the repo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import requests

from devhost.config import ConfigError
from devhost.functions import load_app
from devhost.server import Keys
from scripts.azurite import ROOT, free_port
from shared.domain.names import JobKey

from ..builders import shippable_body
from ..harness import serving

SUB = "00000000-0000-0000-0000-00000000acc5"
VALUES = {"subscriptionId": SUB, "resourceGroupName": "rg", "jobName": "job", "locationName": "westus", "path": "no/such/path"}
# A route that declares no methods takes them all; these stand for them.
ANY_METHODS = ("get", "post", "delete")


def concrete_routes():
    """Every HTTP function's method and route, with its parameters filled in."""
    for function in load_app(ROOT).http_functions():
        route = "/" + re.sub(r"\{\*?(\w+)\}", lambda m: VALUES[m.group(1)], function.trigger["route"])
        for method in sorted(function.methods) or ANY_METHODS:
            yield function.name, function.auth_level, method.upper(), route


ROUTES = list(concrete_routes())


@pytest.fixture(scope="module")
def keyed(app_settings):
    with serving(keys=Keys(function_key="the-function-key", master_key="the-master-key")) as server:
        yield server.base_url


def call(base_url: str, method: str, path: str, key: str | None, in_query: bool = False) -> int:
    params = {"api-version": "2021-01-01"}
    headers = {}
    if key and in_query:
        params["code"] = key
    elif key:
        headers["x-functions-key"] = key
    return requests.request(method, base_url + path, params=params, headers=headers, json={}, timeout=30).status_code


@pytest.mark.parametrize("name,level,method,path", ROUTES)
def test_every_route_needs_its_key(keyed, name, level, method, path):
    # without a key, or with a wrong one, nothing answers
    assert call(keyed, method, path, None) == 401
    assert call(keyed, method, path, "guess") == 401
    # the function key opens customer routes only; the master key opens everything
    assert (call(keyed, method, path, "the-function-key") == 401) == (level == "admin")
    assert call(keyed, method, path, "the-master-key", in_query=True) != 401


def test_a_key_with_non_ascii_characters_is_refused_not_an_error(keyed):
    # given a key header that is not ASCII (HTTP allows latin-1 bytes there)
    headers = {"x-functions-key": "the-function-key\u00e9".encode("latin-1")}
    # when a customer route is called with it
    response = requests.get(f"{keyed}/subscriptions/{SUB}/providers/Microsoft.ImportExport/jobs", headers=headers, timeout=30)
    # then it is a wrong key, like any other
    assert response.status_code == 401


@pytest.mark.parametrize(
    "given,missing", [("DEVHOST_FUNCTION_KEY", "DEVHOST_MASTER_KEY"), ("DEVHOST_MASTER_KEY", "DEVHOST_FUNCTION_KEY")]
)
def test_one_key_without_the_other_is_refused_at_start(tmp_path, given, missing):
    # given an app folder and only one of the two keys set
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    environment = {name: value for name, value in os.environ.items() if not name.startswith("DEVHOST_")}
    environment[given] = "a-key"
    # when the dev host is started
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "--root", str(tmp_path), "--port", str(free_port())],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )
    # then it refuses in one line that names the missing variable (rather than serving, "keys on", routes no key opens)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert missing in line


def test_keys_are_both_set_or_neither():
    assert not Keys().enforced
    assert Keys("f", "m").enforced
    with pytest.raises(ConfigError, match="DEVHOST_MASTER_KEY"):
        Keys(function_key="f")
    with pytest.raises(ConfigError, match="DEVHOST_FUNCTION_KEY"):
        Keys(master_key="m")


def test_customer_routes_are_function_level_and_operator_admin():
    levels = {name: level for name, level, _, _ in ROUTES}
    assert levels.pop("move_job") == "admin"
    assert set(levels.values()) == {"function"}


def test_admin_endpoints_need_the_master_key(keyed):
    assert requests.post(f"{keyed}/admin/functions/purge_timer", json={}, timeout=30).status_code == 401
    assert (
        requests.post(
            f"{keyed}/admin/functions/purge_timer", json={}, headers={"x-functions-key": "the-function-key"}, timeout=30
        ).status_code
        == 401
    )


def test_one_subscriptions_job_is_never_reached_through_another(api):
    # given a job in one subscription
    owner = JobKey(SUB, "shared-name-rg", "shared-name")
    assert api.put_job(owner, shippable_body()).status_code == 201
    etag = api.get_job(owner).headers["ETag"]
    # when another subscription (and other groups) use the same names
    for other in (
        JobKey("00000000-0000-0000-0000-00000000acc6", "shared-name-rg", "shared-name"),
        JobKey(SUB, "other-rg", "shared-name"),
        JobKey(SUB, "shared-name-rg2", "shared-name"),
    ):
        assert api.get_job(other).status_code == 404
        assert api.cancel_job(other).status_code == 404
        assert api.delete_job(other).status_code == 200
        assert api.list_jobs(other.subscription_id, other.resource_group).json()["value"] == []
    # then the owner's job is untouched
    assert api.get_job(owner).headers["ETag"] == etag


def test_unicode_look_alike_groups_are_different_groups(api):
    latin, cyrillic = JobKey(SUB, "prod-rg", "look"), JobKey(SUB, "prоd-rg", "look")  # the second 'о' is Cyrillic
    assert api.put_job(latin, shippable_body()).status_code == 201
    assert api.get_job(cyrillic).status_code == 404
    assert api.put_job(cyrillic, shippable_body()).status_code == 201
    assert api.delete_job(cyrillic).status_code == 200
    assert api.get_job(latin).status_code == 200


def test_no_secret_is_tracked_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert "local.settings.json" not in tracked
    well_known_dev_key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    pattern = re.compile(r"(AccountKey=|SharedAccessSignature=|sig=)([A-Za-z0-9+/=%]{20,})")
    for name in tracked:
        path = ROOT / name
        if not path.is_file() or path.suffix in (".png", ".lock"):
            continue
        for match in pattern.finditer(path.read_text(errors="ignore")):
            assert match.group(2) == well_known_dev_key, f"{name} holds what looks like a secret"


@pytest.mark.parametrize(
    "created,asked,same",
    [
        ("k-rg", "K-RG", True),
        ("grå", "GRÅ", True),
        ("\u212a", "k", False),  # KELVIN SIGN: Python's lower() made it 'k'
        ("\u212b-rg", "å-rg", False),  # ANGSTROM SIGN
        ("straße", "STRASSE", False),
        ("straße", "straẞe", False),
        ("İzmir", "izmir", False),
        ("ılık", "ILIK", False),
    ],
)
def test_resource_groups_are_the_same_exactly_when_arm_says_so(api, new_key, created, asked, same):
    # given a job in a resource group
    owner = new_key(created)
    assert api.put_job(owner, shippable_body()).status_code == 201
    other = JobKey(owner.subscription_id, asked, owner.job_name)
    # when it is read through another spelling of the group
    response = api.get_job(other)
    # then it is found exactly when ARM's comparison calls the names equal
    assert response.status_code == (200 if same else 404)
    listed = api.list_jobs(other.subscription_id, other.resource_group).json()["value"]
    assert [job["name"] for job in listed] == ([owner.job_name] if same else [])
