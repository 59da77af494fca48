"""The contract's state table as pure rules: every allowed and refused move, without storage."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import state_machine
from shared.domain.errors import BadRequest, Conflict
from shared.domain.job import DriveState, Job, JobState

from ..builders import (
    ALL_OPERATOR_CASES,
    ALLOWED_OPERATOR_MOVES,
    DELIVERY_PACKAGE,
    KEY,
    LEGAL_EDGES,
    RETURN_ADDRESS,
    T0,
    WEST_US_SHIPPING,
    create_request,
    state_machine_job,
    update_request,
)


def created(**properties) -> Job:
    """A new job (not shippable yet unless `properties` make it so), at T0."""
    return state_machine.new_job(KEY, create_request(**properties), T0, shipping_to=WEST_US_SHIPPING)


def shippable() -> Job:
    """A new job with all it needs to ship, at T0."""
    return state_machine_job(JobState.CREATING)


def patch(job: Job, properties: dict | None = None, tags: dict | None = None, at: datetime = T0) -> Job:
    body = {"properties": properties or {}}
    if tags is not None:
        body["tags"] = tags
    return state_machine.update_job(job, update_request(body), at)


class TestCreate:
    def test_new_job_starts_in_creating_with_service_owned_fields_reset(self):
        # given a body that tries to set what the service owns
        request = create_request(state="Completed", cancelRequested=True, percentComplete=50)
        # when
        job = state_machine.new_job(KEY, request, T0, shipping_to=WEST_US_SHIPPING)
        # then
        assert job.state == JobState.CREATING
        assert job.properties.cancel_requested is False
        assert job.properties.percent_complete is None  # the copy has not started
        assert job.properties.created_at == job.properties.updated_at == job.properties.state_changed_at == T0
        assert job.properties.completed_at is None

    def test_replace_is_allowed_only_in_creating_and_keeps_created_at(self):
        later = T0 + timedelta(hours=1)
        request = create_request(diagnosticsPath="other")
        replaced = state_machine.replace_job(created(), request, later, shipping_to=WEST_US_SHIPPING)
        assert replaced.properties.diagnostics_path == "other"
        assert replaced.properties.created_at == T0
        assert replaced.properties.updated_at == later
        with pytest.raises(Conflict, match="state Shipping; it can be replaced only in state Creating"):
            state_machine.replace_job(state_machine_job(JobState.SHIPPING), request, later, shipping_to=WEST_US_SHIPPING)


class TestCustomerMoves:
    def test_ship_from_creating_with_address_and_package(self):
        job = patch(shippable(), {"state": "Shipping"}, at=T0 + timedelta(minutes=5))
        assert job.state == JobState.SHIPPING
        assert job.properties.state_changed_at == T0 + timedelta(minutes=5)

    def test_ship_with_address_and_package_in_the_same_request(self):
        job = patch(created(), {"state": "Shipping", "returnAddress": RETURN_ADDRESS, "deliveryPackage": DELIVERY_PACKAGE})
        assert job.state == JobState.SHIPPING

    @pytest.mark.parametrize("missing", ["returnAddress", "deliveryPackage"])
    def test_ship_without_address_or_package_is_refused(self, missing):
        properties = {"returnAddress": RETURN_ADDRESS, "deliveryPackage": DELIVERY_PACKAGE}
        del properties[missing]
        with pytest.raises(BadRequest, match=f"before properties.{missing}"):
            patch(created(**properties), {"state": "Shipping"})

    def test_cancel_in_creating_is_recorded_and_the_job_stays_in_creating(self):
        # when a job in Creating is cancelled
        job = patch(created(), {"cancelRequested": True}, at=T0 + timedelta(hours=2))
        # then the cancel is recorded, and the job waits in Creating for the service to complete it
        assert job.state == JobState.CREATING
        assert job.properties.cancel_requested is True
        assert job.properties.completed_at is None
        assert state_machine.cancel_pending(job)

    def test_the_service_completes_a_pending_cancel_and_its_retention_starts_then(self):
        # given a job cancelled in Creating
        pending = patch(created(), {"cancelRequested": True}, at=T0 + timedelta(hours=2))
        # when the service completes it later
        job = state_machine.complete_cancel(pending, T0 + timedelta(hours=3))
        # then it is Completed from that moment, its cancel still recorded
        assert job.state == JobState.COMPLETED
        assert job.properties.cancel_requested is True
        assert job.properties.completed_at == job.properties.state_changed_at == T0 + timedelta(hours=3)
        assert not state_machine.cancel_pending(job)

    @pytest.mark.parametrize(
        "job",
        [created(), state_machine_job(JobState.SHIPPING, cancel_requested=True), state_machine_job(JobState.COMPLETED)],
        ids=["creating, no cancel", "shipping, cancelled", "completed"],
    )
    def test_completing_a_job_without_a_pending_cancel_changes_nothing(self, job):
        assert state_machine.complete_cancel(job, T0 + timedelta(days=1)) is job

    def test_the_services_completion_leaves_the_last_update_as_the_cancel_made_it(self):
        # (systemData's lastModifiedAt, shown beside the caller who cancelled)
        pending = patch(created(), {"cancelRequested": True}, at=T0 + timedelta(hours=2))
        completed = state_machine.complete_cancel(pending, T0 + timedelta(hours=3))
        assert completed.properties.updated_at == T0 + timedelta(hours=2)

    def test_the_operator_cannot_complete_a_cancel_before_it_was_made(self):
        # given a job created at T0, kept in Creating, and cancelled two days later
        pending = patch(created(), {"cancelRequested": True}, at=T0 + timedelta(days=2))
        # when the operator completes it as of a time before the cancel, then that is refused (its retention would
        # start before the cancel); as of the cancel or later, it is done
        with pytest.raises(BadRequest, match="before the job's last move"):
            state_machine.move_job(pending, JobState.COMPLETED, T0 + timedelta(days=1), T0 + timedelta(days=3))
        done = state_machine.move_job(pending, JobState.COMPLETED, T0 + timedelta(days=2), T0 + timedelta(days=3))
        assert done.properties.completed_at == T0 + timedelta(days=2)

    def test_the_operator_is_told_a_job_in_creating_without_a_cancel_has_no_move(self):
        with pytest.raises(Conflict, match="the operator can move it to no other state, not to Shipping"):
            state_machine.move_job(created(), JobState.SHIPPING, None, T0)

    def test_completing_twice_completes_once(self):
        # given a cancel completed an hour after it was recorded
        completed = state_machine.complete_cancel(patch(created(), {"cancelRequested": True}), T0 + timedelta(hours=1))
        # when another run completes it again a day later
        again = state_machine.complete_cancel(completed, T0 + timedelta(days=1))
        # then it is the job as the first completion left it
        assert again is completed

    def test_a_job_whose_cancel_is_pending_is_never_shipped(self):
        pending = patch(shippable(), {"cancelRequested": True})
        with pytest.raises(Conflict, match="cancel pending; a cancelled job is completed, never shipped"):
            patch(pending, {"state": "Shipping"})

    def test_a_job_whose_cancel_is_pending_can_still_be_edited(self):
        pending = patch(shippable(), {"cancelRequested": True})
        edited = patch(pending, {"logLevel": "Verbose"}, at=T0 + timedelta(minutes=1))
        assert edited.properties.log_level == "Verbose"
        assert state_machine.cancel_pending(edited)

    def test_a_replacement_keeps_a_pending_cancel(self):
        pending = patch(created(), {"cancelRequested": True})
        replaced = state_machine.replace_job(pending, create_request(diagnosticsPath="other"), T0, shipping_to=WEST_US_SHIPPING)
        assert replaced.properties.diagnostics_path == "other"
        assert state_machine.cancel_pending(replaced)

    @pytest.mark.parametrize("state", [JobState.SHIPPING, JobState.RECEIVED, JobState.TRANSFERRING])
    def test_cancel_after_shipping_is_recorded_and_state_kept(self, state):
        job = patch(state_machine_job(state), {"cancelRequested": True})
        assert job.state == state
        assert job.properties.cancel_requested is True
        assert job.properties.completed_at is None

    @pytest.mark.parametrize("state", [JobState.PACKAGING, JobState.COMPLETED, JobState.CLOSED])
    def test_cancel_from_packaging_on_is_refused_naming_the_state(self, state):
        with pytest.raises(Conflict, match=f"The job is in state {state}; a job can be cancelled only before"):
            patch(state_machine_job(state), {"cancelRequested": True})

    @pytest.mark.parametrize(
        "state", [JobState.CREATING, JobState.SHIPPING, JobState.RECEIVED, JobState.PACKAGING, JobState.COMPLETED]
    )
    def test_cancel_twice_is_idempotent(self, state):
        job = state_machine_job(state, cancel_requested=True)
        assert patch(job, {"cancelRequested": True}, at=T0 + timedelta(days=1)) is job

    def test_cancel_false_never_withdraws_a_cancel(self):
        job = state_machine_job(JobState.SHIPPING, cancel_requested=True)
        assert patch(job, {"cancelRequested": False}) is job

    def test_cancel_and_state_together_is_a_bad_request(self):
        with pytest.raises(BadRequest, match="both cancel"):
            patch(shippable(), {"cancelRequested": True, "state": "Shipping"})

    @pytest.mark.parametrize(
        "state", [JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING, JobState.COMPLETED, JobState.CLOSED]
    )
    def test_customer_cannot_move_to_shipping_from_later_states(self, state):
        with pytest.raises(Conflict, match=f"The job is in state {state}; a customer can only move"):
            patch(state_machine_job(state), {"state": "Shipping"})

    @pytest.mark.parametrize("target", ["Received", "Transferring", "Packaging", "Completed", "Closed"])
    def test_customer_cannot_make_operator_moves(self, target):
        with pytest.raises(Conflict, match="The job is in state Shipping"):
            patch(state_machine_job(JobState.SHIPPING), {"state": target})

    def test_setting_the_current_state_changes_nothing(self):
        job = state_machine_job(JobState.SHIPPING)
        assert patch(job, {"state": "Shipping"}, at=T0 + timedelta(days=1)) is job

    def test_tags_change_in_any_state(self):
        job = patch(state_machine_job(JobState.CLOSED), tags={"cost": "1"}, at=T0 + timedelta(days=1))
        assert job.tags == {"cost": "1"}
        assert job.properties.updated_at == T0 + timedelta(days=1)

    @pytest.mark.parametrize(
        "state", [JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING, JobState.COMPLETED, JobState.CLOSED]
    )
    def test_properties_are_frozen_after_shipping(self, state):
        with pytest.raises(Conflict, match=f"state {state}; properties.logLevel can be changed only"):
            patch(state_machine_job(state), {"logLevel": "Verbose"})

    @pytest.mark.parametrize("state", [JobState.CREATING, JobState.SHIPPING])
    def test_properties_change_before_the_datacenter_has_the_drives(self, state):
        job = patch(state_machine_job(state), {"logLevel": "Verbose", "backupDriveManifest": True})
        assert job.properties.log_level == "Verbose"
        assert job.properties.backup_drive_manifest is True


class TestOperatorMoves:
    def test_the_move_table_allows_exactly_the_contracts_operator_moves(self):
        # given the state machine's table of the datacenter's moves, read for a job with and without a cancel
        allowed = {
            (move.source, cancel, move.target)
            for move in state_machine.OPERATOR_MOVES
            for cancel in (False, True)
            if move.allows(cancel)
        }
        # then it is the contract's table as the tests state it, and every conditional move says why it is refused
        assert allowed == set(ALLOWED_OPERATOR_MOVES)
        assert all(
            move.refusal for move in state_machine.OPERATOR_MOVES if move.cancelled is not state_machine.WhenCancelled.EITHER
        )

    @pytest.mark.parametrize("state,cancel,target", ALLOWED_OPERATOR_MOVES)
    def test_allowed_move(self, state, cancel, target):
        job = state_machine_job(state, cancel_requested=cancel)
        at = T0 + timedelta(days=3)
        moved = state_machine.move_job(job, target, at, T0 + timedelta(days=4))
        assert moved.state == target
        assert moved.properties.state_changed_at == at
        assert moved.properties.completed_at == (at if target in (JobState.COMPLETED, JobState.CLOSED) else None)

    @pytest.mark.parametrize("state,cancel,target", [case for case in ALL_OPERATOR_CASES if case not in ALLOWED_OPERATOR_MOVES])
    def test_every_other_move_is_refused_with_409_naming_the_state(self, state, cancel, target):
        with pytest.raises(Conflict, match=f"The job is in state {state}"):
            state_machine.move_job(state_machine_job(state, cancel_requested=cancel), target, None, T0)

    def test_move_in_the_future_is_refused(self):
        with pytest.raises(BadRequest, match="future"):
            state_machine.move_job(state_machine_job(JobState.SHIPPING), JobState.RECEIVED, T0 + timedelta(seconds=1), T0)

    def test_move_before_the_last_move_is_refused(self):
        job = state_machine.move_job(
            state_machine_job(JobState.SHIPPING), JobState.RECEIVED, T0 + timedelta(days=2), T0 + timedelta(days=2)
        )
        with pytest.raises(BadRequest, match="before the job's last move"):
            state_machine.move_job(job, JobState.TRANSFERRING, T0 + timedelta(days=1), T0 + timedelta(days=3))


class TestClocksOfSeveralInstances:
    """Instances' clocks differ by a little: a move made "now" is never refused for another instance's clock."""

    AHEAD = timedelta(seconds=2)

    @pytest.mark.parametrize("target", [JobState.RECEIVED, JobState.CLOSED])
    def test_a_move_without_at_after_a_move_by_a_clock_ahead_happens_at_that_move(self, target):
        # given a job shipped by an instance whose clock is 2 s ahead
        shipped = patch(shippable(), {"state": "Shipping"}, at=T0 + self.AHEAD)
        # when another instance moves it without `at`, at its own T0
        moved = state_machine.move_job(shipped, target, None, T0)
        # then the move is made, at the last move's time (never before it), and its finish (if any) then too
        assert moved.state == target
        assert moved.properties.state_changed_at == T0 + self.AHEAD
        assert moved.properties.completed_at == (T0 + self.AHEAD if target == JobState.CLOSED else None)

    def test_a_move_without_at_happens_now_when_now_is_later(self):
        shipped = patch(shippable(), {"state": "Shipping"}, at=T0)
        assert state_machine.move_job(shipped, JobState.RECEIVED, None, T0 + self.AHEAD).properties.state_changed_at == (
            T0 + self.AHEAD
        )

    def test_a_ship_after_a_write_by_a_clock_ahead_is_not_before_it(self):
        # given a job whose last move (its creation) an instance 2 s ahead made
        job = shippable().model_copy(deep=True)
        job.properties.state_changed_at = T0 + self.AHEAD
        # when another instance ships it at its own T0, then the move is not recorded before the last one
        assert patch(job, {"state": "Shipping"}, at=T0).properties.state_changed_at == T0 + self.AHEAD

    def test_a_completion_after_a_move_by_a_clock_ahead_is_not_before_it(self):
        job = patch(created(), {"cancelRequested": True}, at=T0).model_copy(deep=True)
        job.properties.state_changed_at = T0 + self.AHEAD
        completed = state_machine.complete_cancel(job, T0)
        assert completed.properties.completed_at == completed.properties.state_changed_at == T0 + self.AHEAD

    def test_an_explicit_at_before_the_last_move_is_still_refused(self):
        shipped = patch(shippable(), {"state": "Shipping"}, at=T0 + self.AHEAD)
        with pytest.raises(BadRequest, match="before the job's last move"):
            state_machine.move_job(shipped, JobState.RECEIVED, T0, T0 + self.AHEAD)


class TestDriveStates:
    def test_every_drive_is_specified_when_the_job_is_created(self):
        # given drives as a client sends them, one claiming a state of its own
        job = created(driveList=[{"driveId": "A", "state": "Completed"}, {"driveId": "B"}])
        # then the service shows each as Specified
        assert [drive.state for drive in job.properties.drive_list] == [DriveState.SPECIFIED] * 2

    def test_a_drive_added_by_an_update_is_specified(self):
        job = patch(created(driveList=[{"driveId": "A"}]), {"driveList": [{"driveId": "A"}, {"driveId": "B"}]})
        assert [drive.state for drive in job.properties.drive_list] == [DriveState.SPECIFIED] * 2

    @pytest.mark.parametrize(
        "path,expected",
        [
            ([JobState.RECEIVED], DriveState.RECEIVED),
            ([JobState.RECEIVED, JobState.TRANSFERRING], DriveState.TRANSFERRING),
            ([JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING], DriveState.COMPLETED),
            ([JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING, JobState.COMPLETED], DriveState.SHIPPED_BACK),
            ([JobState.CLOSED], DriveState.NEVER_RECEIVED),
        ],
    )
    def test_the_datacenters_moves_move_the_drives(self, path, expected):
        # given a shipped job with two drives
        drives = [{"driveId": "A"}, {"driveId": "B"}]
        job = patch(
            created(returnAddress=RETURN_ADDRESS, deliveryPackage=DELIVERY_PACKAGE, driveList=drives), {"state": "Shipping"}
        )
        # when the datacenter moves it along `path`
        for step, target in enumerate(path, start=1):
            job = state_machine.move_job(job, target, None, T0 + timedelta(hours=step))
        # then every drive is in the state the job's move puts it in
        assert [drive.state for drive in job.properties.drive_list] == [expected] * 2


class TestDelete:
    @pytest.mark.parametrize("state", list(JobState))
    def test_delete_only_in_creating_or_completed(self, state):
        job = state_machine_job(state)
        if state in (JobState.CREATING, JobState.COMPLETED):
            state_machine.check_deletable(job)
        else:
            with pytest.raises(Conflict, match=f"The job is in state {state}; it can be deleted only"):
                state_machine.check_deletable(job)


# Property test: any sequence of customer and operator actions keeps the contract's invariants.
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("cancel"), st.none()),
        st.tuples(st.just("ship"), st.none()),
        st.tuples(
            st.just("tags"),
            st.dictionaries(st.from_regex(r"[^<>%&\\?/\x00-\x1f\x7f]{1,5}", fullmatch=True), st.text(max_size=5), max_size=3),
        ),
        st.tuples(st.just("operator"), st.sampled_from(list(JobState))),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(ACTIONS)
def test_any_sequence_of_actions_keeps_the_invariants(actions):
    # given a new job, and the states it enters with the time of each move
    job = shippable()
    now = T0
    moves = [(job.state, T0)]
    # when any sequence of actions is tried on it, an hour apart
    for kind, argument in actions:
        now += timedelta(hours=1)
        before = job
        unchanged = job.model_copy(deep=True)
        try:
            if kind == "cancel":
                job = patch(job, {"cancelRequested": True}, at=now)
            elif kind == "ship":
                job = patch(job, {"state": "Shipping"}, at=now)
            elif kind == "tags":
                job = patch(job, tags=argument, at=now)
            else:
                job = state_machine.move_job(job, argument, now, now)
        except (Conflict, BadRequest):
            # then a refused action changes nothing, not even in place
            assert job == unchanged
            continue
        # then every move is an edge of the contract's state table
        if job.state != before.state:
            moves.append((job.state, now))
            assert (before.state, job.state) in LEGAL_EDGES
        # a cancel request is never lost
        assert job.properties.cancel_requested or not before.properties.cancel_requested
        # completedAt is set exactly when the job is finished
        assert (job.properties.completed_at is not None) == (job.state in (JobState.COMPLETED, JobState.CLOSED))
        # a cancelled job never starts or ends a copy: it skips Transferring and ends Completed
        if job.properties.cancel_requested and job.state != before.state:
            assert job.state in (JobState.COMPLETED, JobState.RECEIVED, JobState.PACKAGING, JobState.CLOSED)
            assert not (job.state == JobState.CLOSED and before.state == JobState.PACKAGING)
    # and stateChangedAt is the time of the job's last move, however many actions did not move it
    assert (job.state, job.properties.state_changed_at) == moves[-1]
