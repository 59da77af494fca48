"""Route names: validation, case-insensitive keys, and key ranges that never overlap."""

import re

import pytest

from shared.domain.errors import BadRequest
from shared.domain.names import JobKey, Scope, case_key

SUB = "6a2B5c3d-0000-4000-8000-00000000000A"


def test_keys_ignore_case_but_the_resource_id_keeps_it():
    # given two spellings of one job
    upper, lower = JobKey.parse(SUB, "My-RG", "Job1"), JobKey.parse(SUB.lower(), "my-rg", "JOB1")
    # then they share a table key, and each keeps its own casing for display
    assert (upper.partition_key, upper.row_key) == (lower.partition_key, lower.row_key)
    assert upper.resource_id == f"/subscriptions/{SUB}/resourceGroups/My-RG/providers/Microsoft.ImportExport/jobs/Job1"


@pytest.mark.parametrize(
    "name",
    ["", "a'b", 'a"b', "a/b", "a\\b", "a#b", "a?b", "a b", "a\x00b", "a\nb", "job.", "-job", "x" * 65, "jöb", "a:b", "a%2Fb"],
)
def test_bad_job_names_are_refused(name):
    with pytest.raises(BadRequest) as raised:
        JobKey.parse(SUB, "rg", name)
    assert raised.value.code == "InvalidResourceName"


@pytest.mark.parametrize("group", ["", "a'b", "a/b", "a:b", "rg.", "x" * 91, "a\tb", "a eq b or 1"])
def test_bad_resource_groups_are_refused(group):
    with pytest.raises(BadRequest) as raised:
        JobKey.parse(SUB, group, "job")
    assert raised.value.code == "InvalidResourceGroupName"


@pytest.mark.parametrize("subscription", ["", "not-a-guid", SUB + "0", "' or ''='"])
def test_bad_subscription_ids_are_refused(subscription):
    with pytest.raises(BadRequest) as raised:
        Scope.parse(subscription)
    assert raised.value.code == "InvalidSubscriptionId"


def test_allowed_resource_group_characters():
    assert JobKey.parse(SUB, "rg_(prod)-1.a", "job_1-a.b").row_key == "rg_(prod)-1.a:job_1-a.b"


def test_a_resource_group_range_holds_only_that_group():
    # given groups where one name is a prefix of another
    scope = Scope.parse(SUB, "rg")
    low, high = scope.row_key_prefix, scope.row_key_prefix[:-1] + ";"
    # then only keys of "rg" fall in [low, high)
    assert low <= JobKey.parse(SUB, "rg", "a").row_key < high
    assert not (low <= JobKey.parse(SUB, "rg1", "a").row_key < high)
    assert not (low <= JobKey.parse(SUB, "rg-", "a").row_key < high)


def arm_upper(char: str) -> str:
    """ARM's per-character comparison form, as the contract states it: simple upper case, never folding onto ASCII."""
    if char.isascii():
        return char.upper()
    upper = char.upper() if len(char.upper()) == 1 else char.title() if len(char.title()) == 1 else char
    return char if upper.isascii() else upper


@pytest.mark.parametrize(
    "first,second,same",
    [
        ("k", "K", True),
        ("Rg-Data", "rg-data", True),
        ("å", "Å", True),
        ("σ", "Σ", True),
        ("ς", "Σ", True),
        ("\u212a", "k", False),  # KELVIN SIGN
        ("\u212a", "K", False),
        ("\u212b", "å", False),  # ANGSTROM SIGN
        ("\u212b", "Å", False),
        ("ß", "ẞ", False),
        ("ß", "ss", False),
        ("İ", "i", False),  # dotted capital I
        ("İ", "I", False),
        ("ı", "I", False),  # dotless small i
        ("ı", "i", False),
        ("ſ", "s", False),  # long s
    ],
)
def test_names_share_a_key_exactly_when_arm_calls_them_equal(first, second, same):
    # given two resource group names
    # when both are turned into table keys
    # then the keys are equal exactly when ARM's ordinal, case-insensitive comparison says the names are
    assert (case_key(first) == case_key(second)) is same
    assert ([arm_upper(c) for c in first] == [arm_upper(c) for c in second]) is same


def test_every_character_a_resource_group_allows_has_one_key_per_arm_class():
    # given every character the resource group rule allows, grouped by ARM's comparison form
    classes: dict[str, set[str]] = {}
    for point in range(0x110000):
        char = chr(point)
        if re.fullmatch(r"[-\w.()]", char):
            classes.setdefault(arm_upper(char), set()).add(char)
    # when each is turned into a key
    keys = {form: {case_key(char) for char in chars} for form, chars in classes.items()}
    # then each class has one key, and no two classes share one
    assert all(len(class_keys) == 1 for class_keys in keys.values())
    assert len({next(iter(class_keys)) for class_keys in keys.values()}) == len(classes)
