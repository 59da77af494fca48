"""The $filter grammar, parsed without storage: what it accepts, what each condition becomes, what it refuses; and the
columns a job carries for the conditions to compare with."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.api.filters import JOB_TYPES, MAX_FILTER_CHARS, parse_filter
from shared.domain.errors import ApiError
from shared.domain.job import JobState
from shared.domain.job_filter import Condition, FilterField, JobFilter
from shared.domain.names import JobKey, case_key
from shared.storage.entities import column_values, filter_columns
from shared.storage.skip_tokens import canonical_filter

from ..builders import DELIVERY_PACKAGE, make_job

TYPE, TRACKING, STATE = FilterField.TYPE, FilterField.TRACKING_NUMBER, FilterField.STATE


def refusal(text: str) -> str:
    """The message of the 400 InvalidFilter that `text` gets."""
    with pytest.raises(ApiError) as raised:
        parse_filter(text)
    assert (raised.value.status, raised.value.code, raised.value.target) == (400, "InvalidFilter", "$filter")
    return raised.value.message


def test_each_field_is_one_condition():
    assert parse_filter("type eq 'Import'").conditions == (Condition(TYPE, "Import"),)
    assert parse_filter("trackingnumber eq '123456789'").conditions == (Condition(TRACKING, "123456789"),)
    assert parse_filter("state eq 'Transferring'").conditions == (Condition(STATE, "Transferring"),)


def test_and_joins_conditions_in_the_order_written():
    parsed = parse_filter("type eq 'Import' and state eq 'Shipping' and trackingnumber eq 'T1'")
    assert parsed.conditions == (Condition(TYPE, "Import"), Condition(STATE, "Shipping"), Condition(TRACKING, "t1"))


def test_keywords_field_names_and_enum_values_are_case_insensitive():
    # given the reference's example spelt in other cases
    parsed = parse_filter("TYPE Eq 'IMPORT' AND State EQ 'transferring'")
    # then it reads as the example, with the values in their canonical spelling
    assert parsed.conditions == (Condition(TYPE, "Import"), Condition(STATE, "Transferring"))


def test_whitespace_around_and_between_tokens_is_tolerated():
    assert parse_filter(" \tstate   eq\n'Closed'  and type eq'Export' ").conditions == (
        Condition(STATE, "Closed"),
        Condition(TYPE, "Export"),
    )


def test_two_quotes_in_a_value_are_one_quote():
    assert parse_filter("trackingnumber eq 'O''Brien'").conditions == (Condition(TRACKING, "o'brien"),)


def test_a_value_that_looks_like_odata_is_only_a_value():
    # given a tracking number that would widen the filter if it were pasted into the query text
    parsed = parse_filter("trackingnumber eq ''' or 1 eq 1 or ''a'' eq ''a'")
    # then it is one condition on the tracking number, quotes and all
    assert parsed.conditions == (Condition(TRACKING, "' or 1 eq 1 or 'a' eq 'a"),)


def test_a_tracking_number_compares_by_its_case_key():
    # the stored column holds the same form, so ARM's case-insensitive comparison is an exact one in the table
    assert parse_filter("trackingnumber eq '1z999AA1'").conditions == (Condition(TRACKING, case_key("1Z999aa1")),)


def test_an_enum_value_outside_its_choices_is_refused_naming_it():
    assert refusal("state eq 'Lost'") == (
        "The $filter value 'Lost' is not a state; "
        "use one of Creating, Shipping, Received, Transferring, Packaging, Completed, Closed."
    )
    assert refusal("type eq 'Both'") == "The $filter value 'Both' is not a type; use one of Import, Export."


def test_an_enum_value_matches_only_by_arm_case_rules():
    # the Kelvin sign folds onto 'k' in Python, but never onto an ASCII letter in ARM's comparison
    assert "is not a state" in refusal("state eq 'Pac\u212aaging'")


def test_the_same_field_twice_with_different_values_matches_nothing():
    parsed = parse_filter("state eq 'Creating' and state eq 'Closed'")
    assert parsed.matches_nothing


def test_the_same_condition_twice_is_one_condition():
    parsed = parse_filter("state eq 'Creating' and STATE eq 'creating'")
    assert not parsed.matches_nothing
    assert column_values(parsed) == {"State": "Creating"}


def test_filters_selecting_the_same_jobs_have_one_canonical_form():
    a = parse_filter("type eq 'Import' and state eq 'Shipping'")
    b = parse_filter("STATE eq 'shipping' and type eq 'IMPORT' and type eq 'Import'")
    assert canonical_filter(a) == canonical_filter(b)
    assert canonical_filter(a) != canonical_filter(parse_filter("type eq 'Import'"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("type eq 'Import' or type eq 'Export'", "not understood at 'or type eq 'Export'' (conditions are joined only by and)"),
        ("state ne 'Creating'", "not understood at 'ne 'Creating'' (only eq compares)"),
        ("(state eq 'Creating')", "not understood at '(state eq 'Creating')' (expected a field name)"),
        (
            "substringof('1', trackingnumber)",
            "not understood at 'substringof('1', trackingnumber)' (functions are not supported)",
        ),
        ("trackingnumber eq 123", "not understood at '123' (expected a value in single quotes)"),
        ("state eq 'Creating", "not understood at ''Creating' (a quote is never closed)"),
        ("state eq 'Creating' and", "ends before a condition is complete (expected a field name)"),
        ("state eq", "ends before a condition is complete (expected a value in single quotes)"),
        ("not state eq 'Creating'", "The $filter field 'not' is not understood; the fields are type, trackingnumber and state."),
        ("name eq 'job-1'", "The $filter field 'name' is not understood; the fields are type, trackingnumber and state."),
        ("", "The $filter is empty"),
        ("  ", "The $filter is empty"),
    ],
)
def test_anything_outside_the_grammar_is_refused_naming_the_part_not_understood(text, message):
    assert message in refusal(text)


def test_a_long_part_not_understood_is_quoted_truncated_and_printable():
    message = refusal("state eq 'Creating' or " + "\x00" * 20 + "x" * 100)
    assert "not understood at 'or ????????????????????xxxxxxxxxxxxxxxxx...'" in message
    assert "\x00" not in message


def test_a_filter_past_the_length_limit_is_refused():
    assert refusal("trackingnumber eq '" + "1" * MAX_FILTER_CHARS + "'") == (
        f"The $filter is {MAX_FILTER_CHARS + 20} characters long; the limit is {MAX_FILTER_CHARS}."
    )


def test_a_job_carries_the_stored_forms_its_filters_compare_with():
    # given a shipped-ready job with a mixed-case tracking number
    job = make_job(
        JobKey("00000000-0000-0000-0000-000000000001", "rg", "j"), deliveryPackage={**DELIVERY_PACKAGE, "trackingNumber": "1Zab"}
    )
    # then its columns are what the matching filters' conditions hold
    assert filter_columns(job) == column_values(
        parse_filter("type eq 'import' and state eq 'CREATING' and trackingnumber eq '1zAB'")
    )


def test_a_job_without_a_delivery_package_has_no_tracking_number_column():
    job = make_job(JobKey("00000000-0000-0000-0000-000000000001", "rg", "j"))
    assert filter_columns(job) == {"JobType": "Import", "State": "Creating"}


# Values a condition may hold, in any casing, with quotes and OData keywords inside.
enum_values = {TYPE: JOB_TYPES, STATE: tuple(state.value for state in JobState)}
conditions = st.one_of(
    st.sampled_from([TYPE, STATE]).flatmap(
        lambda field: st.tuples(st.just(field), st.sampled_from(enum_values[field]), st.sampled_from([str.lower, str.upper, str]))
    ),
    st.tuples(st.just(TRACKING), st.text(alphabet=st.sampled_from("aZ09' ()eqorand-"), max_size=20), st.just(str)),
)
spaces = st.sampled_from([" ", "  ", "\t", " \n "])
casings = st.sampled_from([str.lower, str.upper, str.title])


@given(st.lists(st.tuples(conditions, casings, casings, spaces), min_size=1, max_size=6), casings)
def test_a_filter_built_from_conditions_parses_back_to_them(parts, and_casing):
    # given a filter written from random conditions, in random casing and spacing
    clauses = [
        f"{field_casing(field.value)}{space}{eq_casing('eq')}{space}'{spell(value).replace(chr(39), chr(39) * 2)}'"
        for (field, value, spell), field_casing, eq_casing, space in parts
    ]
    text = f" {and_casing('and')} ".join(clauses)
    # when it is parsed
    parsed = parse_filter(text)
    # then it holds exactly those conditions, each value in its stored form
    expected = tuple(Condition(field, case_key(value) if field is TRACKING else value) for (field, value, _), _, _, _ in parts)
    assert parsed == JobFilter(expected)


@given(
    st.text(max_size=200)
    | st.lists(st.sampled_from(["type", "state", "eq", "and", "or", "'", "''", "(", ")", " ", "x"])).map("".join)
)
def test_any_text_parses_or_is_a_400_invalid_filter(text):
    try:
        parsed = parse_filter(text)
    except ApiError as error:
        assert (error.status, error.code) == (400, "InvalidFilter")
        assert len(error.message) < 400
    else:
        assert parsed.conditions
