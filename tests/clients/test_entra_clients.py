"""The official clients as Entra ID callers whose roles do not allow everything: each refused operation raises the
client's error for ARM's 403 `AuthorizationFailed`, and what the roles allow works as before."""

from __future__ import annotations

import uuid

import pytest

from ..entra import LIMITED_ROLE, LIMITED_SUBSCRIPTIONS
from .test_clients import CLIENTS, Reports, clients_installed

WRITES = ("create", "update_tags", "create_export", "delete")


@pytest.fixture(scope="module")
def reader(behind_easy_auth) -> Reports:
    """Each client once through every operation, holding only ImportExport.Reader."""
    clients_installed()
    host = behind_easy_auth
    return Reports(host.base_url, host.client_environment(host.token("ImportExport.Reader")))


@pytest.fixture(scope="module")
def limited_elsewhere(behind_easy_auth) -> Reports:
    """Each client once through every operation in a subscription its only role does not cover."""
    clients_installed()
    host = behind_easy_auth
    return Reports(host.base_url, host.client_environment(host.token(LIMITED_ROLE, application=True)), str(uuid.uuid4()))


@pytest.fixture(scope="module")
def limited_at_home(behind_easy_auth) -> dict[str, Reports]:
    """Each client once through every operation in a subscription its role covers (one each)."""
    clients_installed()
    host = behind_easy_auth
    environment = host.client_environment(host.token(LIMITED_ROLE, application=True))
    return {
        client: Reports(host.base_url, environment, home) for client, home in zip(CLIENTS, LIMITED_SUBSCRIPTIONS, strict=True)
    }


def refused(report: dict, step: str) -> tuple:
    outcome = report["steps"][step]
    return outcome["ok"], outcome.get("status"), outcome.get("code")


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("step", [*WRITES, "bitlocker_keys_list", "operator_receive"])
def test_a_reader_is_refused_every_write_and_the_keys(reader, client, step):
    ok, status, code = refused(reader[client], step)
    assert (ok, status) == (False, 403)
    if step != "operator_receive":  # the operator's route is a plain request, not the client's: no parsed error code
        assert code == "AuthorizationFailed"


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("step", ["list_by_subscription", "locations_list", "operations_list"])
def test_a_reader_reads(reader, client, step):
    assert reader[client]["steps"][step]["ok"], reader[client]["steps"][step]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("step", ["create", "get_absent", "list_by_subscription", "list_by_resource_group_pages", "delete"])
def test_a_role_limited_to_one_subscription_is_refused_in_another(limited_elsewhere, client, step):
    assert refused(limited_elsewhere[client], step)[:2] == (False, 403)


@pytest.mark.parametrize("client", CLIENTS)
def test_a_role_limited_to_one_subscription_acts_in_it(limited_at_home, client):
    steps = limited_at_home[client][client]["steps"]
    assert steps["create"]["ok"] and steps["list_by_subscription"]["ok"], steps
