"""Test data, built one way for every test: request bodies, requests, and jobs in any state of the contract.

A job in a state is made by walking one happy path (`steps_to`) from a new
shippable job, by whichever layer the test is about: the pure state machine
(`state_machine_job`), the service at chosen times over a real store
(`History`), or the API over HTTP (`api_job_in_state`, behind the
`job_in_state` fixture). The contract's state table, as the tests state it,
is here too, since the builders walk it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from shared.domain import state_machine
from shared.domain.clock import Clock, FixedClock, SystemClock
from shared.domain.job import Job, JobState
from shared.domain.jobs import CancelCompletion, CreateResult, JobService, Preconditions
from shared.domain.locations import load_catalogue
from shared.domain.names import JobKey
from shared.domain.requests import JobCreateRequest, JobUpdateRequest
from shared.domain.retention import Retention
from shared.domain.store import JobStore, StoredJob
from shared.settings import DEFAULT_LOCATIONS_FILE

API_VERSION = "2021-01-01"
# The repository's own catalogue and the location the tests' jobs are created in ("westus", which has an address).
LOCATIONS = load_catalogue(DEFAULT_LOCATIONS_FILE)
WEST_US = LOCATIONS.get("westus")
WEST_US_SHIPPING = WEST_US.shipping_information()
# The time the pure state machine tests' jobs are made at, and their key.
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEY = JobKey("00000000-0000-0000-0000-000000000001", "rg", "job")
# The provider's routes, and the path of a job no test creates (so it answers 404).
LOCATIONS_PATH = "/providers/Microsoft.ImportExport/locations"
OPERATIONS_PATH = "/providers/Microsoft.ImportExport/operations"
ABSENT_JOB_PATH = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ImportExport/jobs/j"
# The storage tests' jobs are dated from the time the suite started, judged by the contract's default retention (90
# days after finishing, 14 in Creating), and spread over three subscriptions.
NOW = SystemClock().now()
RETENTION = Retention(finished=timedelta(days=90), creating=timedelta(days=14))
SUBSCRIPTIONS = [
    "00000000-0000-0000-0000-0000000000a1",
    "00000000-0000-0000-0000-0000000000a2",
    "00000000-0000-0000-0000-0000000000a3",
]

# --- bodies and requests ---

RETURN_ADDRESS = {
    "recipientName": "Ada Lovelace",
    "streetAddress1": "1 Analytical Way",
    "city": "Redmond",
    "stateOrProvince": "WA",
    "postalCode": "98052",
    "countryOrRegion": "USA",
    "phone": "4250000000",
    "email": "ada@example.com",
}
DELIVERY_PACKAGE = {"carrierName": "FedEx", "trackingNumber": "123456789", "driveCount": 1, "shipDate": "2026-11-20"}
# The customer's PATCH bodies that move a job: ship it, cancel it.
SHIP = {"properties": {"state": "Shipping"}}
CANCEL = {"properties": {"cancelRequested": True}}

STORAGE_ACCOUNT_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct"
)


def job_body(**properties) -> dict:
    """A PUT body for a new import job in westus; `properties` add to or override its properties."""
    return {
        "location": "westus",
        "tags": {"team": "data"},
        "properties": {
            "storageAccountId": STORAGE_ACCOUNT_ID,
            "jobType": "Import",
            "diagnosticsPath": "waimportexport",
            "logLevel": "Error",
            **properties,
        },
    }


def shippable_body(**properties) -> dict:
    """A PUT body with all a job needs before it can move to Shipping (a return address and a delivery package)."""
    return job_body(returnAddress=RETURN_ADDRESS, deliveryPackage=DELIVERY_PACKAGE, **properties)


def create_request(**properties) -> JobCreateRequest:
    """`job_body(**properties)` as the service receives it."""
    return JobCreateRequest.model_validate(job_body(**properties))


def shippable_request() -> JobCreateRequest:
    """`shippable_body()` as the service receives it."""
    return JobCreateRequest.model_validate(shippable_body())


def update_request(body: dict) -> JobUpdateRequest:
    """A PATCH body as the service receives it."""
    return JobUpdateRequest.model_validate(body)


def jobs_over(store: JobStore, clock: Clock | None = None) -> JobService:
    """The job operations over `store`, at `clock`'s times (now by default), with the repository's locations."""
    return JobService(store, clock, locations=LOCATIONS)


def tag_update(name: str) -> JobUpdateRequest:
    """A PATCH that adds the tag `name`."""
    return update_request({"tags": {name: "yes"}})


def make_job(key: JobKey, **properties) -> Job:
    """A new job as the state machine makes it from a create request, now, not yet stored."""
    return state_machine.new_job(key, create_request(**properties), SystemClock().now(), shipping_to=WEST_US_SHIPPING)


# --- the contract's state table, as the tests state it ---

# The operator moves that take a shipped job to each state (the contract's happy paths).
OPERATOR_PATHS: dict[JobState, list[JobState]] = {
    JobState.CREATING: [],
    JobState.SHIPPING: [],
    JobState.RECEIVED: [JobState.RECEIVED],
    JobState.TRANSFERRING: [JobState.RECEIVED, JobState.TRANSFERRING],
    JobState.PACKAGING: [JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING],
    JobState.COMPLETED: [JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING, JobState.COMPLETED],
    JobState.CLOSED: [JobState.RECEIVED, JobState.TRANSFERRING, JobState.PACKAGING, JobState.CLOSED],
}

# Every move of a job's state the contract allows, by anyone.
LEGAL_EDGES = {
    (JobState.CREATING, JobState.SHIPPING),
    (JobState.CREATING, JobState.COMPLETED),
    (JobState.SHIPPING, JobState.RECEIVED),
    (JobState.SHIPPING, JobState.CLOSED),
    (JobState.RECEIVED, JobState.TRANSFERRING),
    (JobState.RECEIVED, JobState.PACKAGING),
    (JobState.TRANSFERRING, JobState.PACKAGING),
    (JobState.PACKAGING, JobState.COMPLETED),
    (JobState.PACKAGING, JobState.CLOSED),
}

# The operator's allowed moves: (state, cancel requested, target).
ALLOWED_OPERATOR_MOVES = [
    # The operator may complete a cancel pending in Creating before the service does.
    (JobState.CREATING, True, JobState.COMPLETED),
    (JobState.SHIPPING, False, JobState.RECEIVED),
    (JobState.SHIPPING, True, JobState.RECEIVED),
    (JobState.SHIPPING, False, JobState.CLOSED),
    (JobState.SHIPPING, True, JobState.CLOSED),
    (JobState.RECEIVED, False, JobState.TRANSFERRING),
    (JobState.RECEIVED, True, JobState.PACKAGING),
    (JobState.TRANSFERRING, False, JobState.PACKAGING),
    (JobState.TRANSFERRING, True, JobState.PACKAGING),
    (JobState.PACKAGING, False, JobState.COMPLETED),
    (JobState.PACKAGING, True, JobState.COMPLETED),
    (JobState.PACKAGING, False, JobState.CLOSED),
]


# Every operator move from every state a job can be in, allowed or not: any state, with a cancel recorded or not (in
# Creating, until the service completes the cancel, rule 3).
ALL_OPERATOR_CASES = [(state, cancel, target) for state in JobState for cancel in (False, True) for target in JobState]

# --- jobs in a state ---


def steps_to(state: JobState, *, cancel_requested: bool = False) -> list[dict | JobState]:
    """The happy path from a new shippable job to `state`: the customer's PATCH bodies and the operator's moves, in order.

    With `cancel_requested`, the cancel comes while the job is still in the customer's hands where it can: a
    job cancelled before the copy skips Transferring (to Packaging or Completed), one in Transferring is
    cancelled there, and a cancelled job is Closed only from Shipping (a cancelled job in Packaging ends Completed).
    """
    if state == JobState.CREATING:
        return [CANCEL] if cancel_requested else []
    moves: list[dict | JobState] = list(OPERATOR_PATHS[state])
    if not cancel_requested:
        return [SHIP, *moves]
    if state == JobState.CLOSED:
        return [SHIP, CANCEL, JobState.CLOSED]
    if state in (JobState.PACKAGING, JobState.COMPLETED):
        return [SHIP, CANCEL, *(move for move in moves if move != JobState.TRANSFERRING)]
    return [SHIP, *moves, CANCEL]


def state_machine_job(state: JobState, *, cancel_requested: bool = False, at: datetime = T0) -> Job:
    """A job (key `KEY`) the pure state machine took to `state` at `at`, every step at that time; never stored."""
    job = state_machine.new_job(KEY, shippable_request(), at, shipping_to=WEST_US_SHIPPING)
    for step in steps_to(state, cancel_requested=cancel_requested):
        if isinstance(step, JobState):
            job = state_machine.move_job(job, step, None, at)
        else:
            job = state_machine.update_job(job, update_request(step), at)
    return job


class History:
    """Makes jobs in a real store whose last change happened at a chosen time, through the service as the API would."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def at(self, moment: datetime) -> JobService:
        """The service as it runs at `moment`."""
        return jobs_over(self.store, FixedClock(moment))

    def create(self, key: JobKey, moment: datetime, request: JobCreateRequest | None = None) -> CreateResult:
        """PUT at `moment` (a shippable job unless `request` says otherwise)."""
        return self.at(moment).create_job(key, request or shippable_request(), Preconditions())

    def update(self, key: JobKey, moment: datetime, body: dict) -> StoredJob:
        """PATCH at `moment`."""
        return self.at(moment).update_job(key, update_request(body), Preconditions())

    def cancelled(self, key: JobKey, completed_at: datetime) -> JobKey:
        """A job cancelled while still in Creating and completed by the service at `completed_at`, in three writes."""
        self.create(key, completed_at)
        self.update(key, completed_at, CANCEL)
        assert self.at(completed_at).complete_cancel(key) == CancelCompletion.COMPLETED
        return key

    def job(self, key: JobKey, state: JobState, last_change: datetime, *, cancel_requested: bool = False) -> JobKey:
        """A job taken to `state` by `steps_to`, created ten days before its last change (or at it, in Creating), a
        day between steps, its last step at `last_change`."""
        steps = steps_to(state, cancel_requested=cancel_requested)
        start = last_change - timedelta(days=10) if steps else last_change
        self.create(key, start)
        for number, step in enumerate(steps, start=1):
            when = last_change if number == len(steps) else start + timedelta(days=number)
            if isinstance(step, JobState):
                self.at(when).move_job(key, step, None)
            else:
                self.update(key, when, step)
        return key


def api_job_in_state(api, key: JobKey, state: JobState, *, cancel_requested: bool = False) -> JobKey:
    """A job taken to `state` by `steps_to` through the API (`api`: a `tests.harness.Api`); returns its key."""
    assert api.put_job(key, shippable_body()).status_code == 201
    for step in steps_to(state, cancel_requested=cancel_requested):
        response = api.move_job(key, step) if isinstance(step, JobState) else api.patch_job(key, step)
        assert response.status_code == 200, response.text
    assert api.get_job(key).json()["properties"]["state"] == state
    return key


# The provider's operations, as its published example lists them.
PROVIDER_OPERATIONS = [
    "Microsoft.ImportExport/locations/read",
    "Microsoft.ImportExport/jobs/write",
    "Microsoft.ImportExport/jobs/read",
    "Microsoft.ImportExport/jobs/listBitLockerKeys/action",
    "Microsoft.ImportExport/jobs/delete",
    "Microsoft.ImportExport/register/action",
]
