"""Listing by resource group and by subscription: paging with nextLink, scopes that never leak."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from shared.names import JobKey


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [job["name"] for job in response.json()["value"]]


def follow(api, first_response) -> tuple[list[str], int]:
    """All names across the pages, following nextLink as an ARM client does; and the page count."""
    collected, pages, response = [], 0, first_response
    while True:
        collected += names(response)
        pages += 1
        link = response.json().get("nextLink")
        if not link:
            return collected, pages
        response = api.http.get(link, timeout=30)


@pytest.fixture
def populated(api, subscription_id):
    """Seven jobs in group "rg", three in "rg1" (a name that extends "rg"), two in "other"."""
    keys = {
        group: [JobKey(subscription_id, group, f"{group}-job-{i}") for i in range(count)]
        for group, count in (("rg", 7), ("rg1", 3), ("other", 2))
    }
    for group_keys in keys.values():
        for key in group_keys:
            assert api.put_job(key).status_code == 201
    return keys


def test_resource_group_listing_pages_with_next_link(api, populated, subscription_id):
    # when the group is listed three at a time
    first = api.list_jobs(subscription_id, "rg", **{"$top": 3})
    # then the pages hold exactly its seven jobs, in order, over three pages
    assert len(names(first)) == 3
    link = first.json()["nextLink"]
    assert link.startswith(api.base_url + "/subscriptions/")
    query = parse_qs(urlsplit(link).query)
    assert query["api-version"] == ["2021-01-01"] and query["$top"] == ["3"] and query["$skipToken"]
    everything, pages = follow(api, first)
    assert everything == sorted(key.job_name for key in populated["rg"])
    assert pages >= 3


def test_resource_group_listing_does_not_leak_a_group_with_a_longer_name(api, populated, subscription_id):
    assert sorted(names(api.list_jobs(subscription_id, "rg1"))) == sorted(k.job_name for k in populated["rg1"])
    assert sorted(names(api.list_jobs(subscription_id, "RG"))) == sorted(k.job_name for k in populated["rg"])


def test_subscription_listing_holds_every_group(api, populated, subscription_id):
    everything, pages = follow(api, api.list_jobs(subscription_id, **{"$top": 5}))
    assert sorted(everything) == sorted(k.job_name for group in populated.values() for k in group)
    assert pages >= 3


def test_other_subscriptions_are_never_listed(api, populated, subscription_id):
    other = "00000000-0000-0000-0000-00000000abcd"
    assert names(api.list_jobs(other)) == []
    assert names(api.list_jobs(other, "rg")) == []


def test_an_empty_scope_lists_nothing_without_next_link(api, subscription_id):
    response = api.list_jobs(subscription_id, "empty")
    assert response.json() == {"value": []}


def test_deleted_jobs_leave_the_listings(api, populated, subscription_id):
    gone = populated["rg"][2]
    assert api.delete_job(gone).status_code == 200
    assert gone.job_name not in names(api.list_jobs(subscription_id, "rg"))
    assert gone.job_name not in follow(api, api.list_jobs(subscription_id, **{"$top": 4}))[0]


@pytest.mark.parametrize("top", ["0", "101", "-1", "ten", "1.5", "", "٣"])
def test_bad_top_is_400(api, subscription_id, top):
    response = api.list_jobs(subscription_id, **{"$top": top})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidTop"


@pytest.mark.parametrize("token", ["garbage!", "e30", "W10", "eyJQYXJ0aXRpb25LZXkiOjF9"])
def test_forged_skip_token_is_400(api, subscription_id, token):
    response = api.list_jobs(subscription_id, **{"$skipToken": token})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidSkipToken"


def test_filter_is_refused_clearly(api, subscription_id):
    response = api.list_jobs(subscription_id, **{"$filter": "state eq 'Creating'"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidFilter"


def test_bad_scope_names_are_400(api):
    assert api.list_jobs("not-a-subscription").status_code == 400
    assert api.list_jobs("00000000-0000-0000-0000-000000000001", "bad'group").status_code == 400


def skip_token_of(response) -> str:
    return parse_qs(urlsplit(response.json()["nextLink"]).query)["$skipToken"][0]


def test_a_skip_token_from_another_subscription_is_400(api, populated, subscription_id):
    # given a continuation token issued while listing this subscription
    token = skip_token_of(api.list_jobs(subscription_id, **{"$top": 1}))
    # when another subscription's listing is sent that token
    response = api.list_jobs("00000000-0000-0000-0000-00000000abcd", **{"$skipToken": token})
    # then it is refused as a token this listing never gave out
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidSkipToken"


def test_a_skip_token_from_another_resource_group_is_400(api, populated, subscription_id):
    # given a continuation token issued while listing one resource group
    token = skip_token_of(api.list_jobs(subscription_id, "rg", **{"$top": 1}))
    # when the listing of another group, or of the whole subscription, is sent that token
    for scope in ([subscription_id, "other"], [subscription_id, "rg1"], [subscription_id]):
        response = api.list_jobs(*scope, **{"$skipToken": token})
        # then it is refused
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "InvalidSkipToken"


def test_query_parameter_names_are_case_insensitive(api, populated, subscription_id):
    # given parameter names spelt in other cases, as ARM accepts them
    # when the listing is asked for $FILTER, then it is refused as $filter is
    filtered = api.list_jobs(subscription_id, **{"$FILTER": "state eq 'Creating'"})
    assert filtered.status_code == 400 and filtered.json()["error"]["code"] == "InvalidFilter"
    # and $TOP is honoured as $top
    assert len(api.list_jobs(subscription_id, "rg", **{"$TOP": 2}).json()["value"]) == 2


def test_next_link_never_carries_the_function_key(api, populated, subscription_id):
    # given a listing called with its key in the query, as the Functions host allows
    response = api.list_jobs(subscription_id, "rg", **{"$top": 3, "code": "SECRETKEY"})
    # then the nextLink leaves it out (the client sends its key again, as it did on the first call)
    assert "SECRETKEY" not in response.text
    assert "code" not in parse_qs(urlsplit(response.json()["nextLink"]).query)


def test_next_link_follows_the_forwarded_headers_of_a_front_end(api, populated, subscription_id):
    # given a listing that reached the app through a front end
    headers = {"X-Forwarded-Host": "jobs.example.com", "X-Forwarded-Proto": "https"}
    path = f"/subscriptions/{subscription_id}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs"
    response = api.request("GET", path, params={"$top": 3}, headers=headers)
    # then the nextLink addresses the front end, as the client did
    assert response.json()["nextLink"].startswith(f"https://jobs.example.com{path}?")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Proto": "javascript"},
        {"X-Forwarded-Host": "evil.example/@x#"},
        {"X-Forwarded-Host": "evil.example:99999"},
        {"X-Forwarded-Host": "evil example"},
    ],
)
def test_forwarded_headers_that_are_not_a_scheme_or_host_are_ignored(api, populated, subscription_id, headers):
    # given a listing whose forwarded headers are not a plain scheme or host[:port]
    path = f"/subscriptions/{subscription_id}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs"
    # when it is listed
    response = api.request("GET", path, params={"$top": 3}, headers=headers)
    # then the nextLink is built from the URL the request came to, as if they were not there
    assert response.json()["nextLink"].startswith(f"{api.base_url}{path}?")
