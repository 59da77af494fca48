"""Roles and actions: what each role grants, over which scopes, and ARM's words for a refusal."""

from __future__ import annotations

import json

import pytest

from shared.domain.access import (
    KEY_CALLER,
    AccessPolicy,
    Action,
    Caller,
    CallerType,
    Role,
    RoleDefinition,
    RolesFileError,
    load_roles,
)
from shared.domain.errors import AuthorizationFailed
from shared.settings import DEFAULT_ROLES_FILE

SUB_A = "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001"
SUB_B = "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002"
JOB_IN_A = f"{SUB_A}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs/job"
LOCATIONS = "/providers/Microsoft.ImportExport/locations/westus"
REPOSITORY_ROLES = load_roles(DEFAULT_ROLES_FILE)


def caller(*roles: str) -> Caller:
    return Caller(name="ada@contoso.example", type=CallerType.USER, object_id="oid-1", roles=frozenset(roles))


def role(actions: list[str], scopes: list[str] | None = None) -> Role:
    return Role.from_definition(RoleDefinition(name="r", actions=actions, scopes=scopes))


# What the repository's roles grant, as docs/access.md states it.
GRANTS = {
    "ImportExport.Reader": {Action.JOBS_READ, Action.LOCATIONS_READ},
    "ImportExport.Contributor": {Action.JOBS_READ, Action.JOBS_WRITE, Action.JOBS_DELETE, Action.LOCATIONS_READ},
    "ImportExport.BitLockerKeyReader": {Action.JOBS_READ, Action.LIST_BITLOCKER_KEYS},
    "ImportExport.Operator": {Action.JOBS_READ, Action.MOVE_JOB_STATE, Action.LOCATIONS_READ},
}


@pytest.mark.parametrize("role_name", sorted(GRANTS))
@pytest.mark.parametrize("action", list(Action))
def test_each_repository_role_grants_exactly_its_actions(role_name, action):
    # given a caller holding one of the repository's roles
    # when it asks for each action over a job, then only the role's actions are allowed
    assert REPOSITORY_ROLES.allows(caller(role_name), action, JOB_IN_A) == (action in GRANTS[role_name])


def test_only_the_bitlocker_role_grants_the_keys():
    holders = [name for name in GRANTS if REPOSITORY_ROLES.allows(caller(name), Action.LIST_BITLOCKER_KEYS, JOB_IN_A)]
    assert holders == ["ImportExport.BitLockerKeyReader"]


def test_a_key_holder_may_do_everything():
    assert all(AccessPolicy.of([]).allows(KEY_CALLER, action, JOB_IN_A) for action in Action)


def test_a_caller_without_roles_may_do_nothing():
    assert not any(REPOSITORY_ROLES.allows(caller(), action, JOB_IN_A) for action in Action)


def test_an_unknown_role_grants_nothing():
    assert not REPOSITORY_ROLES.allows(caller("Directory.Admin"), Action.JOBS_READ, JOB_IN_A)


def test_a_role_value_is_matched_exactly():
    # app role values in tokens are case-sensitive; a differently spelt one is another role
    assert not REPOSITORY_ROLES.allows(caller("importexport.reader"), Action.JOBS_READ, JOB_IN_A)


def test_a_wildcard_grants_every_action_under_it():
    jobs = role(["Microsoft.ImportExport/jobs/*"])
    assert jobs.grants(Action.JOBS_DELETE, JOB_IN_A) and jobs.grants(Action.LIST_BITLOCKER_KEYS, JOB_IN_A)
    assert not jobs.grants(Action.LOCATIONS_READ, LOCATIONS)


def test_actions_compare_without_case():
    assert role(["microsoft.importexport/JOBS/read"]).grants(Action.JOBS_READ, JOB_IN_A)


class TestScopes:
    def test_a_subscription_role_covers_its_resource_groups_and_jobs(self):
        limited = role(["Microsoft.ImportExport/jobs/read"], [SUB_A])
        assert limited.grants(Action.JOBS_READ, SUB_A)
        assert limited.grants(Action.JOBS_READ, JOB_IN_A)

    def test_a_subscription_role_does_not_cover_another_subscription(self):
        limited = role(["Microsoft.ImportExport/jobs/read"], [SUB_A])
        assert not limited.grants(Action.JOBS_READ, SUB_B)
        assert not limited.grants(Action.JOBS_READ, f"{SUB_B}/resourceGroups/rg")

    def test_a_subscription_id_that_starts_alike_is_another_subscription(self):
        limited = role(["Microsoft.ImportExport/jobs/read"], [SUB_A])
        assert not limited.grants(Action.JOBS_READ, SUB_A + "0")

    def test_a_resource_group_role_does_not_cover_its_subscription(self):
        # so it cannot list the subscription's jobs, which include other groups'
        limited = role(["Microsoft.ImportExport/jobs/read"], [f"{SUB_A}/resourceGroups/rg"])
        assert limited.grants(Action.JOBS_READ, JOB_IN_A)
        assert not limited.grants(Action.JOBS_READ, SUB_A)
        assert not limited.grants(Action.JOBS_READ, f"{SUB_A}/resourceGroups/other")

    def test_scopes_compare_without_case(self):
        limited = role(["Microsoft.ImportExport/jobs/read"], [f"{SUB_A}/resourceGroups/RG"])
        assert limited.grants(Action.JOBS_READ, JOB_IN_A.upper().replace("/PROVIDERS/", "/providers/"))

    def test_provider_reads_are_in_no_subscription(self):
        limited = role(["Microsoft.ImportExport/locations/read"], [SUB_A])
        assert limited.grants(Action.LOCATIONS_READ, LOCATIONS)


def test_a_refusal_names_the_caller_the_action_and_the_scope_as_arm_does():
    with pytest.raises(AuthorizationFailed) as refusal:
        REPOSITORY_ROLES.authorize(caller("ImportExport.Reader"), Action.JOBS_DELETE, JOB_IN_A)
    assert refusal.value.status == 403
    assert refusal.value.to_body()["error"] == {
        "code": "AuthorizationFailed",
        "message": "The client 'ada@contoso.example' with object id 'oid-1' does not have authorization to perform "
        f"action 'Microsoft.ImportExport/jobs/delete' over scope '{JOB_IN_A}' or the scope is invalid. "
        "If access was recently granted, please refresh your credentials.",
    }


class TestRolesFile:
    def write(self, tmp_path, document) -> object:
        path = tmp_path / "roles.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        return path

    def test_a_limited_role_reads_back(self, tmp_path):
        path = self.write(tmp_path, {"roles": [{"name": "Contoso.Reader", "actions": [Action.JOBS_READ], "scopes": [SUB_A]}]})
        policy = load_roles(path)
        assert policy.allows(caller("Contoso.Reader"), Action.JOBS_READ, JOB_IN_A)
        assert not policy.allows(caller("Contoso.Reader"), Action.JOBS_READ, SUB_B)

    @pytest.mark.parametrize(
        "document,problem",
        [
            ("{", "not a readable JSON file"),
            ({"roles": [{"name": "r", "actions": []}]}, "roles.0.actions"),
            ({"roles": [{"name": "r", "actions": ["x/y"], "scopes": ["/tenants/t"]}]}, "roles.0.scopes.0"),
            ({"roles": [{"name": "r", "actions": ["x/y"], "grants": []}]}, "roles.0.grants"),
            ({"roles": [{"name": "r", "actions": ["x/y"]}, {"name": "r", "actions": ["x/z"]}]}, "'r' is defined more than once"),
        ],
    )
    def test_a_flawed_file_is_one_error_naming_the_flaw(self, tmp_path, document, problem):
        with pytest.raises(RolesFileError, match=problem):
            load_roles(self.write(tmp_path, document))

    def test_a_missing_file_is_named(self, tmp_path):
        with pytest.raises(RolesFileError, match="no such roles file"):
            load_roles(tmp_path / "absent.json")
