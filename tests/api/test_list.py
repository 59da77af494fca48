"""Listing by resource group and by subscription: paging with nextLink, scopes that never leak."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.names import JobKey

from ..builders import API_VERSION, DELIVERY_PACKAGE, RETURN_ADDRESS, job_body
from ..harness import assert_arm_error, serving_app


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


@pytest.mark.parametrize("query", ["$top=1&$top=2", "$top=1&$TOP=2", "$filter=state eq 'Shipping'&$Filter=state eq 'Creating'"])
def test_a_query_parameter_given_twice_is_400_naming_it(api, populated, subscription_id, query):
    # given a listing URL that names a parameter twice, in any casing (which of the two would win is not guessed)
    url = (
        f"{api.base_url}/subscriptions/{subscription_id}/providers/Microsoft.ImportExport/jobs?api-version={API_VERSION}&{query}"
    )
    # when it is sent
    response = api.http.get(url, timeout=30)
    # then it is refused, naming the parameter
    error = assert_arm_error(response, 400, "InvalidQueryParameter")
    assert error["target"] == query.split("&")[1].split("=")[0]


NESTED_JSON_TOKEN = base64.urlsafe_b64encode(b"[" * 1000).decode().rstrip("=")


@pytest.mark.parametrize("token", ["garbage!", "e30", "W10", "eyJQYXJ0aXRpb25LZXkiOjF9", NESTED_JSON_TOKEN])
def test_forged_skip_token_is_400(api, subscription_id, token):
    response = api.list_jobs(subscription_id, **{"$skipToken": token})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidSkipToken"


@pytest.mark.parametrize(
    "scope,code",
    [
        (["not-a-subscription"], "InvalidSubscriptionId"),
        (["00000000-0000-0000-0000-000000000001", "bad'group"], "InvalidResourceGroupName"),
    ],
)
def test_bad_scope_names_are_400(api, scope, code):
    response = api.list_jobs(*scope)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


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


def test_query_parameter_names_are_case_insensitive(api, populated, subscription_id, complete_cancels):
    # given parameter names spelt in other cases, as ARM accepts them
    # when the listing is asked for $FILTER, then it is read as $filter
    cancelled = populated["rg1"][0]
    assert api.cancel_job(cancelled).status_code == 200
    complete_cancels()
    assert names(api.list_jobs(subscription_id, **{"$FILTER": "state eq 'Completed'"})) == [cancelled.job_name]
    # and $TOP is honoured as $top
    assert len(api.list_jobs(subscription_id, "rg", **{"$TOP": 2}).json()["value"]) == 2


def test_next_link_never_carries_the_function_key(api, populated, subscription_id):
    # given a listing called with its key in the query, as the Functions host allows
    response = api.list_jobs(subscription_id, "rg", **{"$top": 3, "code": "SECRETKEY"})
    # then the nextLink leaves it out (the client sends its key again, as it did on the first call)
    assert "SECRETKEY" not in response.text
    assert "code" not in parse_qs(urlsplit(response.json()["nextLink"]).query)


FORWARDED = {"X-Forwarded-Host": "jobs.example.com", "X-Forwarded-Proto": "https"}


def test_next_link_follows_the_forwarded_headers_of_a_front_end_the_settings_trust(api, populated, subscription_id, app_settings):
    # given an app whose settings say a proxy sits in front, and a listing that reached it through that proxy
    path = f"/subscriptions/{subscription_id}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs"
    with serving_app(app_settings.model_copy(update={"trust_forwarded_headers": True})):
        response = api.request("GET", path, params={"$top": 3}, headers=FORWARDED)
    # then the nextLink addresses the front end, as the client did
    assert response.json()["nextLink"].startswith(f"https://jobs.example.com{path}?")


@pytest.mark.parametrize("route", ["subscription", "resource group"])
def test_forwarded_headers_from_a_client_make_no_link_unless_the_settings_trust_them(api, populated, subscription_id, route):
    # given an app with no proxy in front (the default), and a client that sends forwarded headers of its own
    path = f"/subscriptions/{subscription_id}" + ("/resourceGroups/rg" if route == "resource group" else "")
    path += "/providers/Microsoft.ImportExport/jobs"
    response = api.request("GET", path, params={"$top": 3}, headers=FORWARDED)
    # then the nextLink is the URL the host gave the app, not the one the client named
    assert response.json()["nextLink"].startswith(f"{api.base_url}{path}?")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Proto": "javascript"},
        {"X-Forwarded-Host": "evil.example/@x#"},
        {"X-Forwarded-Host": "evil.example:99999"},
        {"X-Forwarded-Host": "evil example"},
    ],
)
def test_forwarded_headers_that_are_not_a_scheme_or_host_are_ignored(api, populated, subscription_id, headers, app_settings):
    # given a listing, behind a proxy the settings trust, whose forwarded headers are not a plain scheme or host[:port]
    path = f"/subscriptions/{subscription_id}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs"
    # when it is listed
    with serving_app(app_settings.model_copy(update={"trust_forwarded_headers": True})):
        response = api.request("GET", path, params={"$top": 3}, headers=headers)
    # then the nextLink is built from the URL the request came to, as if they were not there
    assert response.json()["nextLink"].startswith(f"{api.base_url}{path}?")


# $filter: the service's grammar, applied by Table Storage inside the listing's partition or key range.


@pytest.fixture
def shipments(api, subscription_id) -> dict[str, JobKey]:
    """Jobs of both types in several states, with tracking numbers; one of them in another group."""
    plan = {
        # name: (group, jobType, tracking number or None for a job never shipped, operator moves after Shipping)
        "imp-new": ("rg", "Import", None, []),
        "imp-ship": ("rg", "Import", "1Z-ABC", []),
        "exp-ship": ("rg", "Export", "O'Brien-7", []),
        "exp-recv": ("rg", "Export", "555", ["Received"]),
        "imp-other": ("other", "Import", "1Z-ABC", []),
    }
    keys = {}
    for name, (group, job_type, tracking, moves) in plan.items():
        key = keys[name] = JobKey(subscription_id, group, name)
        assert api.put_job(key, job_body(jobType=job_type)).status_code == 201
        if tracking is not None:
            shipped = {
                "state": "Shipping",
                "returnAddress": RETURN_ADDRESS,
                "deliveryPackage": {**DELIVERY_PACKAGE, "trackingNumber": tracking},
            }
            assert api.patch_job(key, {"properties": shipped}).status_code == 200
        for state in moves:
            assert api.move_job(key, state).status_code == 200
    return keys


def filtered(api, subscription_id, text, group="rg", **params) -> list[str]:
    return sorted(names(api.list_jobs(subscription_id, group, **{"$filter": text}, **params)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("type eq 'Export'", ["exp-recv", "exp-ship"]),
        ("type eq 'Import'", ["imp-new", "imp-ship"]),
        ("state eq 'Shipping'", ["exp-ship", "imp-ship"]),
        ("state eq 'Received'", ["exp-recv"]),
        ("state eq 'Completed'", []),
        ("trackingnumber eq '1Z-ABC'", ["imp-ship"]),
        ("trackingnumber eq '555'", ["exp-recv"]),
    ],
)
def test_each_field_filters_the_resource_group(api, shipments, subscription_id, text, expected):
    # when the group is listed with a condition on one field, then exactly its matching jobs come back
    assert filtered(api, subscription_id, text) == expected


def test_conditions_joined_by_and_must_all_hold(api, shipments, subscription_id):
    assert filtered(api, subscription_id, "type eq 'Import' and state eq 'Shipping'") == ["imp-ship"]
    assert filtered(api, subscription_id, "type eq 'Export' and state eq 'Shipping' and trackingnumber eq 'O''Brien-7'") == [
        "exp-ship"
    ]
    assert filtered(api, subscription_id, "type eq 'Import' and trackingnumber eq '555'") == []


def test_keywords_fields_and_values_in_odd_casing_filter_the_same(api, shipments, subscription_id):
    assert filtered(api, subscription_id, "TYPE eQ 'eXPORT' AND State EQ 'received'") == ["exp-recv"]
    assert filtered(api, subscription_id, "TrackingNumber eq '1z-abc'") == ["imp-ship"]


def test_a_quote_in_a_value_is_written_as_two(api, shipments, subscription_id):
    assert filtered(api, subscription_id, "trackingnumber eq 'o''brien-7'") == ["exp-ship"]


@pytest.mark.parametrize("value", ["' or 1 eq 1", "x' or '1' eq '1", "' or PartitionKey ne '", "*", ""])
def test_a_value_that_looks_like_odata_matches_nothing(api, shipments, subscription_id, value):
    # given a tracking number that would widen the query if it were pasted into the table filter
    text = "trackingnumber eq '" + value.replace("'", "''") + "'"
    # when a group and the subscription are listed with it
    # then it is only a value no job has
    assert filtered(api, subscription_id, text) == []
    assert filtered(api, subscription_id, text, group=None) == []


def test_the_subscription_listing_filters_across_its_groups(api, shipments, subscription_id):
    assert filtered(api, subscription_id, "trackingnumber eq '1Z-ABC'", group=None) == ["imp-other", "imp-ship"]
    assert filtered(api, subscription_id, "state eq 'Shipping'", group=None) == ["exp-ship", "imp-other", "imp-ship"]


def test_the_filter_never_reaches_outside_the_scope(api, shipments, subscription_id):
    assert filtered(api, subscription_id, "state eq 'Shipping'", group="other") == ["imp-other"]
    assert filtered(api, "00000000-0000-0000-0000-00000000abcd", "state eq 'Shipping'", group=None) == []


def test_a_job_is_found_by_its_state_after_each_change(api, shipments, subscription_id, complete_cancels):
    # given a job in Creating
    key = shipments["imp-new"]
    # when it is cancelled, and the service completes the cancel
    assert api.cancel_job(key).status_code == 200
    assert filtered(api, subscription_id, "state eq 'Creating'") == ["imp-new"]
    complete_cancels()
    # then the filter finds it in its new state, and no longer in the old
    assert filtered(api, subscription_id, "state eq 'Completed'") == ["imp-new"]
    assert "imp-new" not in filtered(api, subscription_id, "state eq 'Creating'")


def test_the_same_field_with_two_values_matches_nothing(api, shipments, subscription_id):
    response = api.list_jobs(subscription_id, **{"$filter": "state eq 'Shipping' and state eq 'Received'"})
    assert response.status_code == 200
    assert response.json() == {"value": []}


def test_a_filtered_listing_pages_with_next_links_that_keep_the_filter(api, shipments, subscription_id):
    # given a subscription with three shipping jobs among others
    text = "state eq 'Shipping'"
    # when it is listed one job at a time, following nextLink
    pages, response = [], api.list_jobs(subscription_id, **{"$filter": text, "$top": 1})
    links = []
    while True:
        pages.append(names(response))
        link = response.json().get("nextLink")
        if not link:
            break
        links.append(link)
        response = api.http.get(link, timeout=30)
    # then every link carries the filter, and the pages, one job at most each, hold exactly the matching jobs
    assert links and all(parse_qs(urlsplit(link).query)["$filter"] == [text] for link in links)
    assert all(len(page) <= 1 for page in pages)
    assert sorted(name for page in pages for name in page) == ["exp-ship", "imp-other", "imp-ship"]


def test_a_skip_token_from_another_filter_is_400(api, shipments, subscription_id):
    # given a continuation token issued while listing the shipping jobs
    token = skip_token_of(api.list_jobs(subscription_id, **{"$filter": "state eq 'Shipping'", "$top": 1}))
    # when a listing with another filter, or none, is sent that token
    for params in ({"$filter": "type eq 'Import'"}, {"$filter": "state eq 'Received'"}, {}):
        response = api.list_jobs(subscription_id, **params, **{"$skipToken": token})
        # then it is refused as a token this listing never gave out
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "InvalidSkipToken"


def test_a_skip_token_from_an_unfiltered_listing_is_400_with_a_filter(api, shipments, subscription_id):
    token = skip_token_of(api.list_jobs(subscription_id, **{"$top": 1}))
    response = api.list_jobs(subscription_id, **{"$filter": "state eq 'Shipping'", "$skipToken": token})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidSkipToken"


def test_a_skip_token_continues_the_same_filter_spelt_otherwise(api, shipments, subscription_id):
    # given a token from one spelling of a filter
    token = skip_token_of(api.list_jobs(subscription_id, **{"$filter": "state eq 'Shipping'", "$top": 1}))
    # when the same filter in other casing continues it
    response = api.list_jobs(subscription_id, **{"$filter": "STATE eq 'shipping'", "$skipToken": token})
    # then it is the same listing
    assert response.status_code == 200
    assert len(names(response)) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "type eq 'Import' or type eq 'Export'",
            "The $filter is not understood at 'or type eq 'Export'' (conditions are joined only by and); a $filter is"
            " conditions `field eq 'value'` joined by `and`, with field type, trackingnumber or state.",
        ),
        ("name eq 'imp-new'", "The $filter field 'name' is not understood; the fields are type, trackingnumber and state."),
        (
            "state eq 'Lost'",
            "The $filter value 'Lost' is not a state; "
            "use one of Creating, Shipping, Received, Transferring, Packaging, Completed, Closed.",
        ),
        (
            "startswith(trackingnumber, '1Z')",
            "The $filter is not understood at 'startswith(trackingnumber, '1Z')' (functions are not supported)",
        ),
    ],
)
def test_a_filter_outside_the_grammar_is_400_naming_what_was_not_understood(api, subscription_id, text, message):
    for group in ("rg", None):
        response = api.list_jobs(subscription_id, group, **{"$filter": text})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "InvalidFilter" and error["target"] == "$filter"
        assert error["message"].startswith(message)


FUZZED_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000f7"


def forged_token(subscription_id: str, partition_key, row_key) -> str:
    """A token in the shape this app gives out, for the subscription's listing, with continuation values of its own."""
    listing = f"{subscription_id.lower()}/"
    raw = json.dumps({"PartitionKey": partition_key, "RowKey": row_key, "Scope": listing}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "partition_key,row_key",
    [
        ("{sub}", "\ud800"),  # a lone surrogate: no UTF-8 for it
        ("\udfff", "rg:job"),
        ("{sub}", "rg:\x00job"),  # control characters
        ("{sub}", "rg:\x7fjob"),
        ("{sub}", "rg:\u0085job"),
        ("{sub}", 17),  # not text
        ("{sub}", ["rg:job"]),
        ("{sub}", "r" * 2049),  # longer than any key
        ("{sub}", "\ud83d\ude00" * 600),  # in range as text, but more than storage's 1 KiB key
    ],
)
def test_a_token_of_our_shape_with_content_we_never_give_out_is_400(api, subscription_id, partition_key, row_key):
    # given a token shaped like ours, for this very listing, whose continuation holds what no listing gives out
    partition_key = subscription_id.lower() if partition_key == "{sub}" else partition_key
    token = forged_token(subscription_id, partition_key, row_key)
    # when the listing is asked for it, then it is refused as any token we did not issue, never a 500
    assert_arm_error(api.list_jobs(subscription_id, **{"$skipToken": token}), 400, "InvalidSkipToken")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    partition_key=st.one_of(st.none(), st.integers(), st.text(st.characters(codec=None), max_size=40)),
    row_key=st.one_of(
        st.none(),
        st.integers(),
        st.text(st.characters(codec=None, categories=["Cs", "Cc", "So", "Lo", "Nd", "Pd"]), max_size=40),
        st.text(max_size=1200),
    ),
)
def test_no_token_of_our_shape_breaks_the_listing(api, partition_key, row_key):
    # given a token shaped like ours for a listing, whatever its continuation holds
    token = forged_token(FUZZED_SUBSCRIPTION, partition_key, row_key)
    # when the listing is asked for it, then it is a page or a 400 InvalidSkipToken: never a 5xx
    response = api.list_jobs(FUZZED_SUBSCRIPTION, **{"$skipToken": token})
    if response.status_code != 200:
        assert_arm_error(response, 400, "InvalidSkipToken")


def test_a_job_row_that_cannot_be_read_is_left_out_of_listings_and_named_in_a_500_on_its_own(api, app, new_key):
    # given two jobs in a resource group, one of them damaged out of band (its properties not JSON)
    damaged, healthy = new_key("rg-damage"), new_key("rg-damage")
    api.put_job(damaged)
    api.put_job(healthy)
    app.storage.table.update_entity(
        {"PartitionKey": damaged.partition_key, "RowKey": damaged.row_key, "JobProperties": "{not json"}, mode="merge"
    )
    # when the resource group is listed, then the other job is listed (the damaged one left out, and logged)
    listed = api.list_jobs(damaged.subscription_id, "rg-damage")
    assert listed.status_code == 200
    assert [job["name"] for job in listed.json()["value"]] == [healthy.job_name]
    # and the damaged job itself answers an ARM error saying what is wrong, not a stack trace
    assert_arm_error(api.get_job(damaged), 500, "UnreadableJob")
