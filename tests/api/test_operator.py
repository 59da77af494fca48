"""The datacenter's (operator's) state moves over HTTP: every move the contract allows, every other refused naming the
job's state, and the move's time."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from shared.domain.job import JobState

from ..builders import ALL_OPERATOR_CASES, ALLOWED_OPERATOR_MOVES
from ..harness import error_of

# Every (state, cancelRequested, target) an operator could try that the contract refuses.
REFUSED_OPERATOR_MOVES = [case for case in ALL_OPERATOR_CASES if case not in ALLOWED_OPERATOR_MOVES]


class TestOperatorMovesOverHttp:
    @pytest.mark.parametrize(
        "state,cancel,target",
        ALLOWED_OPERATOR_MOVES,
    )
    def test_allowed_moves(self, api, job_store, job_in_state, state, cancel, target):
        key = job_in_state(state, cancel_requested=cancel)
        response = api.move_job(key, target)
        assert response.status_code == 200, response.text
        assert response.json()["properties"]["state"] == target
        finished = job_store.get(key).job.properties.completed_at is not None
        assert finished == (target in ("Completed", "Closed"))

    @pytest.mark.parametrize("state,cancel,target", REFUSED_OPERATOR_MOVES)
    def test_every_other_operator_move_is_409_naming_the_state(self, api, job_in_state, state, cancel, target):
        key = job_in_state(state, cancel_requested=cancel)
        etag = api.get_job(key).headers["ETag"]
        response = api.move_job(key, target)
        assert response.status_code == 409
        assert error_of(response)["code"] == "InvalidStateTransition"
        assert f"The job is in state {state}" in error_of(response)["message"]
        assert api.get_job(key).headers["ETag"] == etag

    def test_move_at_a_past_time_sets_completed_at(self, api, job_store, job_in_state):
        key = job_in_state(JobState.PACKAGING)
        # a time after the job's last move (just now) but written with an explicit offset
        last = job_store.get(key).job.properties.state_changed_at
        response = api.move_job(key, "Completed", at=last.astimezone(timezone(timedelta(hours=-5))).isoformat())
        assert response.status_code == 200
        assert job_store.get(key).job.properties.completed_at == last

    @pytest.mark.parametrize(
        "at,code,rule",
        [
            # The three rules of InvalidMoveTime share a code; the message says which one refused the time.
            ("2999-01-01T00:00:00Z", "InvalidMoveTime", "cannot be in the future"),
            ("2000-01-01T00:00:00Z", "InvalidMoveTime", "cannot be before the job's last move"),
            ("0001-01-01T00:00:00+01:00", "InvalidMoveTime", "is outside the times this service accepts"),  # the year 0 in UTC
            (
                "9999-12-31T23:59:59-01:00",
                "InvalidMoveTime",
                "is outside the times this service accepts",
            ),  # the year 10000 in UTC
            ("0001-01-01T00:00:00Z", "InvalidMoveTime", "is outside the times this service accepts"),
            ("9999-12-31T23:59:59.999999Z", "InvalidMoveTime", "is outside the times this service accepts"),
            # The fourth rule: `at` is a time with its zone, in ISO 8601 (the body's validation)
            ("2026-01-01T00:00:00", "InvalidRequestContent", "at:"),  # no time zone
            ("yesterday", "InvalidRequestContent", "at:"),
            (0, "InvalidRequestContent", "at:"),  # a number, which pydantic would read as Unix time
            (253402300800, "InvalidRequestContent", "at:"),
        ],
    )
    def test_bad_move_times_are_400_and_change_nothing(self, api, job_in_state, at, code, rule):
        # given a shipped job
        key = job_in_state(JobState.SHIPPING)
        # when the operator moves it at a time that cannot be
        response = api.move_job(key, "Received", at=at)
        # then the answer is 400 with the code and the rule that refused it, naming `at`, and the job stays as it was
        assert response.status_code == 400
        assert (error_of(response)["code"], error_of(response)["target"]) == (code, "at")
        assert rule in error_of(response)["message"]
        assert api.get_job(key).json()["properties"]["state"] == "Shipping"

    def test_unknown_state_is_400(self, api, job_in_state):
        key = job_in_state(JobState.SHIPPING)
        response = api.move_job(key, "Lost")
        assert response.status_code == 400
        assert (error_of(response)["code"], error_of(response)["target"]) == ("InvalidRequestContent", "state")

    def test_move_of_absent_job_is_404(self, api, new_key):
        response = api.move_job(new_key(), "Received")
        assert response.status_code == 404
        assert error_of(response)["code"] == "ResourceNotFound"
