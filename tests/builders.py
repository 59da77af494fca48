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
from shared.domain.jobs import CreateResult, JobService, Preconditions
from shared.domain.locations import load_catalogue
from shared.domain.names import JobKey
from shared.domain.requests import JobCreateRequest, JobUpdateRequest
from shared.domain.store import JobStore, StoredJob
from shared.settings import DEFAULT_LOCATIONS_FILE

S = JobState
API_VERSION = "2021-01-01"
# The repository's own catalogue and the location the tests' jobs are created in ("westus", which has an address).
LOCATIONS = load_catalogue(DEFAULT_LOCATIONS_FILE)
WEST_US = LOCATIONS.get("westus")
WEST_US_SHIPPING = WEST_US.shipping_information()
# The time the pure state machine tests' jobs are made at, and their key.
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEY = JobKey("00000000-0000-0000-0000-000000000001", "rg", "job")

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


def make_job(key: JobKey, **properties) -> Job:
    """A new job as the state machine makes it from a create request, now, not yet stored."""
    return state_machine.new_job(key, create_request(**properties), SystemClock().now(), shipping_to=WEST_US_SHIPPING)


# --- the contract's state table, as the tests state it ---

# The operator moves that take a shipped job to each state (the contract's happy paths).
OPERATOR_PATHS: dict[JobState, list[JobState]] = {
    S.CREATING: [],
    S.SHIPPING: [],
    S.RECEIVED: [S.RECEIVED],
    S.TRANSFERRING: [S.RECEIVED, S.TRANSFERRING],
    S.PACKAGING: [S.RECEIVED, S.TRANSFERRING, S.PACKAGING],
    S.COMPLETED: [S.RECEIVED, S.TRANSFERRING, S.PACKAGING, S.COMPLETED],
    S.CLOSED: [S.RECEIVED, S.TRANSFERRING, S.PACKAGING, S.CLOSED],
}

# Every move of a job's state the contract allows, by anyone.
LEGAL_EDGES = {
    (S.CREATING, S.SHIPPING),
    (S.CREATING, S.COMPLETED),
    (S.SHIPPING, S.RECEIVED),
    (S.SHIPPING, S.CLOSED),
    (S.RECEIVED, S.TRANSFERRING),
    (S.RECEIVED, S.PACKAGING),
    (S.TRANSFERRING, S.PACKAGING),
    (S.PACKAGING, S.COMPLETED),
    (S.PACKAGING, S.CLOSED),
}

# The operator's allowed moves: (state, cancel requested, target).
ALLOWED_OPERATOR_MOVES = [
    (S.SHIPPING, False, S.RECEIVED),
    (S.SHIPPING, True, S.RECEIVED),
    (S.SHIPPING, False, S.CLOSED),
    (S.SHIPPING, True, S.CLOSED),
    (S.RECEIVED, False, S.TRANSFERRING),
    (S.RECEIVED, True, S.PACKAGING),
    (S.TRANSFERRING, False, S.PACKAGING),
    (S.TRANSFERRING, True, S.PACKAGING),
    (S.PACKAGING, False, S.COMPLETED),
    (S.PACKAGING, True, S.COMPLETED),
    (S.PACKAGING, False, S.CLOSED),
]


def can_be_cancelled_in(state: JobState) -> bool:
    """Whether a job can be in `state` with a cancel requested: any but Creating, where a cancel ends it Completed
    at once (rule 3). A cancelled job ends Closed when the operator closes it in Shipping (customer unreachable)."""
    return state != S.CREATING


# Every operator move from every state a job can be in, allowed or not.
ALL_OPERATOR_CASES = [
    (state, cancel, target) for state in S for cancel in (False, True) for target in S if not cancel or can_be_cancelled_in(state)
]

# --- jobs in a state ---


def steps_to(state: JobState, *, cancel_requested: bool = False) -> list[dict | JobState]:
    """The happy path from a new shippable job to `state`: the customer's PATCH bodies and the operator's moves, in order.

    With `cancel_requested`, the cancel comes while the job is still in the customer's hands where it can: a
    job cancelled before the copy skips Transferring (to Packaging or Completed), one in Transferring is
    cancelled there, and a cancelled job is Closed only from Shipping (a cancelled job in Packaging ends Completed).
    """
    assert not cancel_requested or can_be_cancelled_in(state), f"a cancelled job is never in state {state}"
    if state == S.CREATING:
        return []
    moves: list[dict | JobState] = list(OPERATOR_PATHS[state])
    if not cancel_requested:
        return [SHIP, *moves]
    if state == S.CLOSED:
        return [SHIP, CANCEL, S.CLOSED]
    if state in (S.PACKAGING, S.COMPLETED):
        return [SHIP, CANCEL, *(move for move in moves if move != S.TRANSFERRING)]
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
        """A job cancelled while still in Creating: Completed at `completed_at`, in two writes."""
        self.create(key, completed_at)
        self.update(key, completed_at, CANCEL)
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
