"""Entra ID callers, as App Service Authentication passes them in: each function allows only what the caller's
roles grant over its scope, refuses the rest with ARM's 403 before anything is read or written, and records who
created and changed each job. The functions are called in this process, with the headers the platform sets."""

from __future__ import annotations

import json

import pytest

import cancel_job
import create_job
import delete_job
import get_job
import get_location
import list_bitlocker_keys
import list_jobs_by_resource_group
import list_jobs_by_subscription
import list_locations
import list_operations
import move_job
from shared.app import app_in_use
from shared.domain.access import Action, AuthMode
from shared.domain.names import JobKey
from shared.settings import read_roles

from ..builders import CANCEL, SHIP, shippable_body
from ..harness import function_request
from ..principals import principal_headers

SUB = "00000000-0000-0000-0000-00000000e171"
OTHER_SUB = "00000000-0000-0000-0000-00000000e172"
READER, CONTRIBUTOR, KEYS, OPERATOR = (
    "ImportExport.Reader",
    "ImportExport.Contributor",
    "ImportExport.BitLockerKeyReader",
    "ImportExport.Operator",
)

# Every function an Entra ID caller reaches, the request it takes, and the action it needs (None: any caller).
FUNCTIONS = {
    "create": (create_job, "PUT", json.dumps(shippable_body()).encode(), Action.JOBS_WRITE),
    "get": (get_job, "GET", b"", Action.JOBS_READ),
    "update": (cancel_job, "PATCH", json.dumps({"tags": {"a": "b"}}).encode(), Action.JOBS_WRITE),
    "delete": (delete_job, "DELETE", b"", Action.JOBS_DELETE),
    "list by resource group": (list_jobs_by_resource_group, "GET", b"", Action.JOBS_READ),
    "list by subscription": (list_jobs_by_subscription, "GET", b"", Action.JOBS_READ),
    "BitLocker keys": (list_bitlocker_keys, "POST", b"", Action.LIST_BITLOCKER_KEYS),
    "operator move": (move_job, "POST", json.dumps({"state": "Received"}).encode(), Action.MOVE_JOB_STATE),
    "locations": (list_locations, "GET", b"", Action.LOCATIONS_READ),
    "location": (get_location, "GET", b"", Action.LOCATIONS_READ),
    "operations": (list_operations, "GET", b"", None),
}
ROLE_FOR = {
    Action.JOBS_READ: READER,
    Action.JOBS_WRITE: CONTRIBUTOR,
    Action.JOBS_DELETE: CONTRIBUTOR,
    Action.LIST_BITLOCKER_KEYS: KEYS,
    Action.MOVE_JOB_STATE: OPERATOR,
    Action.LOCATIONS_READ: READER,
}


def route_of(function, key: JobKey) -> dict[str, str]:
    route = {"subscriptionId": key.subscription_id, "resourceGroupName": key.resource_group, "jobName": key.job_name}
    if function is list_jobs_by_subscription:
        return {"subscriptionId": key.subscription_id}
    if function is list_jobs_by_resource_group:
        return {"subscriptionId": key.subscription_id, "resourceGroupName": key.resource_group}
    if function in (list_locations, list_operations):
        return {}
    if function is get_location:
        return {"locationName": "westus"}
    return route


@pytest.fixture
def entra(fresh_app):
    """An app in Entra mode behind App Service Authentication, served to the functions while the test runs."""
    app = fresh_app(settings_update={"auth_mode": AuthMode.ENTRA, "easy_auth_enabled": True})
    with app_in_use(app):
        yield app


@pytest.fixture
def call():
    def send(function_name: str, key: JobKey, *roles: str, body: bytes | None = None, **caller):
        function, method, default_body, _ = FUNCTIONS[function_name]
        body = default_body if body is None else body
        request = function_request_for(method, route_of(function, key), body, principal_headers(*roles, **caller))
        response = function.main(request)
        return response.status_code, json.loads(response.get_body() or b"null")

    return send


def function_request_for(method, route, body, headers):
    return function_request(method, route=route, body=body, headers={"Content-Type": "application/json", **headers})


@pytest.fixture
def key(entra, call) -> JobKey:
    """A job that exists (created by a contributor), in the app's table."""
    made = JobKey(SUB, "rg", "job1")
    assert call("create", made, CONTRIBUTOR, name="ada@contoso.example")[0] == 201
    return made


@pytest.mark.parametrize("name", [name for name, (_, _, _, action) in FUNCTIONS.items() if action is not None])
def test_a_caller_without_the_role_is_refused_with_arms_403(entra, key, call, name):
    # given a caller whose only role grants nothing this function needs
    # when it calls the function
    status, body = call(name, key, "Some.OtherRole", name="eve@contoso.example", object_id="oid-eve")
    # then ARM's refusal names the caller, the action and the scope
    action = FUNCTIONS[name][3]
    assert status == 403
    assert body["error"]["code"] == "AuthorizationFailed"
    assert "The client 'eve@contoso.example' with object id 'oid-eve'" in body["error"]["message"]
    assert f"action '{action.value}'" in body["error"]["message"]


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_the_role_that_grants_the_action_is_let_through(entra, key, call, name):
    if name == "operator move":  # the datacenter moves shipped jobs
        assert call("update", key, CONTRIBUTOR, body=json.dumps(SHIP).encode())[0] == 200
    action = FUNCTIONS[name][3]
    roles = () if action is None else (ROLE_FOR[action],)
    status, _ = call(name, key, *roles)
    assert status in (200, 201), name


def test_no_principal_is_401(entra, key):
    response = get_job.main(function_request_for("GET", route_of(get_job, key), b"", {}))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


class TestNothingIsReadOrWrittenOnARefusal:
    def test_a_refused_create_makes_no_job(self, entra, call):
        fresh = JobKey(SUB, "rg", "never")
        assert call("create", fresh, READER)[0] == 403
        assert entra.storage.store.get(fresh) is None

    def test_a_refused_update_or_delete_leaves_the_job_as_it_was(self, entra, key, call):
        before = entra.storage.store.get(key)
        assert call("update", key, READER)[0] == 403
        assert call("delete", key, READER)[0] == 403
        assert entra.storage.store.get(key).etag == before.etag

    def test_a_refused_caller_learns_nothing_of_the_job(self, entra, call):
        # a job that does not exist is 403 too, not 404: a refused caller cannot probe for names
        status, body = call("get", JobKey(SUB, "rg", "absent"), "Some.OtherRole")
        assert status == 403


def test_the_contributor_cannot_read_bitlocker_keys(entra, key, call):
    assert call("BitLocker keys", key, CONTRIBUTOR)[0] == 403
    assert call("BitLocker keys", key, KEYS)[0] == 200


class TestARoleLimitedToASubscription:
    @pytest.fixture
    def limited(self, fresh_app, tmp_path):
        roles = tmp_path / "roles.json"
        scoped = {"name": "Contoso.Jobs", "actions": ["Microsoft.ImportExport/jobs/*"], "scopes": [f"/subscriptions/{SUB}"]}
        roles.write_text(json.dumps({"roles": [scoped]}))
        entra_mode = {"auth_mode": AuthMode.ENTRA, "easy_auth_enabled": True}
        app = fresh_app(settings_update={**entra_mode, "access": read_roles(str(roles))})
        with app_in_use(app):
            yield app

    def test_it_acts_in_its_subscription(self, limited, call):
        assert call("create", JobKey(SUB, "rg", "mine"), "Contoso.Jobs")[0] == 201
        status, page = call("list by subscription", JobKey(SUB, "rg", "mine"), "Contoso.Jobs")
        assert status == 200 and [job["name"] for job in page["value"]] == ["mine"]

    @pytest.mark.parametrize("name", ["create", "get", "list by subscription", "list by resource group", "delete"])
    def test_it_is_refused_everywhere_in_another(self, limited, call, name):
        status, body = call(name, JobKey(OTHER_SUB, "rg", "theirs"), "Contoso.Jobs")
        assert status == 403
        assert f"/subscriptions/{OTHER_SUB}" in body["error"]["message"]


class TestSystemDataSaysWho:
    def test_the_creator_and_the_last_modifier_are_recorded(self, entra, call):
        # given a job created by a user, then changed by an application
        job = JobKey(SUB, "rg", "who")
        assert call("create", job, CONTRIBUTOR, name="ada@contoso.example")[0] == 201
        assert call("update", job, CONTRIBUTOR, kind="application", name="app-0001")[0] == 200
        # when it is read
        _, body = call("get", job, READER)
        # then systemData names each, with its kind
        system = body["systemData"]
        assert (system["createdBy"], system["createdByType"]) == ("ada@contoso.example", "User")
        assert (system["lastModifiedBy"], system["lastModifiedByType"]) == ("app-0001", "Application")

    def test_a_managed_identity_is_recorded_as_one(self, entra, call):
        job = JobKey(SUB, "rg", "mi")
        _, body = call("create", job, CONTRIBUTOR, kind="managed identity", name="mi-0001")
        assert (body["systemData"]["createdBy"], body["systemData"]["createdByType"]) == ("mi-0001", "ManagedIdentity")

    def test_a_move_by_the_operator_is_the_operators(self, entra, key, call):
        assert call("update", key, CONTRIBUTOR, body=json.dumps(SHIP).encode(), name="bob@contoso.example")[0] == 200
        _, body = call("operator move", key, OPERATOR, kind="application", name="datacenter-app")
        assert body["systemData"]["lastModifiedBy"] == "datacenter-app"
        assert body["systemData"]["lastModifiedByType"] == "Application"
        assert body["systemData"]["createdBy"] == "ada@contoso.example"

    def test_no_token_or_principal_is_stored(self, entra, key):
        stored = entra.storage.table.get_entity(key.partition_key, key.row_key)
        text = json.dumps(dict(stored), default=str)
        assert "X-MS-CLIENT-PRINCIPAL" not in text and "user_impersonation" not in text
        assert "ImportExport.Contributor" not in text


def test_a_key_holder_is_recorded_as_key(app, api, new_key):
    # keys mode (the default): the host checked a Functions key, and that is all the app knows of the caller
    created = api.put_job(new_key(), shippable_body()).json()
    assert (created["systemData"]["createdBy"], created["systemData"]["createdByType"]) == ("Functions key", "Key")


def test_cancel_is_a_write(entra, key, call):
    assert call("update", key, READER, body=json.dumps(CANCEL).encode())[0] == 403
    assert call("update", key, CONTRIBUTOR, body=json.dumps(CANCEL).encode())[0] == 200
