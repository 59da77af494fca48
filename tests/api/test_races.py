"""Races over HTTP: 32 threads of mixed traffic and purges on a few jobs, then every write is checked against the
contract; and many clients at once on one job (moves, cancels, creates, deletes, tag updates).

Every successful store write is recorded with the ETag it was conditional on.
The writes of one job must form a single chain (no two writes from one
version: nothing lost, nothing applied twice), and every link must be a move
the contract allows.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from azure.core import PipelineClient
from azure.core.pipeline.policies import CustomHookPolicy, RetryPolicy
from azure.core.rest import HttpRequest

from shared.app import Storage, app_in_use
from shared.domain.clock import FixedClock, SystemClock
from shared.domain.job import Job, JobState
from shared.domain.names import JobKey
from shared.domain.retention import expiry_start
from shared.domain.state_machine import FINISHED, cancel_pending
from shared.ops.cancels import CancelCompletions
from shared.ops.purge import Purge
from shared.storage.expiry_index import PurgeOutcome

from ..builders import LEGAL_EDGES, jobs_over, shippable_body
from ..harness import PassThrough, index_problems

THREADS = 32
ROUNDS = 3
OPERATIONS_PER_THREAD = 12
JOB_NAMES = [f"race-{i}" for i in range(6)]


@dataclass(frozen=True)
class Write:
    kind: str  # insert, replace, delete, purge
    partition_key: str
    row_key: str
    previous_etag: str | None
    previous: Job | None
    new: Job | None
    etag: str | None
    entry_etag: str | None = None


@dataclass
class Audit:
    """Each write that storage accepted, in the order they were recorded."""

    writes: list[Write] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, write: Write) -> None:
        with self.lock:
            self.writes.append(write)


class AuditedStore(PassThrough):
    """The app's real store, recording each write that storage accepted."""

    def __init__(self, inner, audit: Audit) -> None:
        super().__init__(inner)
        self.audit = audit

    def insert(self, job, **options):
        stored = self.inner.insert(job, **options)
        self.audit.record(
            Write("insert", job.key.partition_key, job.key.row_key, None, None, stored.job, stored.etag, stored.entry_etag)
        )
        return stored

    def replace(self, job, current, **options):
        stored = self.inner.replace(job, current, **options)
        self.audit.record(
            Write(
                "replace",
                job.key.partition_key,
                job.key.row_key,
                current.etag,
                current.job,
                stored.job,
                stored.etag,
                stored.entry_etag,
            )
        )
        return stored

    def delete(self, current):
        deleted = self.inner.delete(current)
        if deleted:
            self.audit.record(
                Write("delete", current.job.key.partition_key, current.job.key.row_key, current.etag, current.job, None, None)
            )
        return deleted


class AuditedIndex(PassThrough):
    """The purge's real index, recording each job it deleted."""

    def __init__(self, inner, audit: Audit) -> None:
        super().__init__(inner)
        self.audit = audit

    def delete_expired(self, partition_key, entries):
        result = self.inner.delete_expired(partition_key, entries)
        for entry in result.deleted:
            self.audit.record(Write("purge", partition_key, entry.job_row_key, None, None, None, None, entry.etag))
        return result

    def delete_one_expired(self, partition_key, entry):
        outcome = self.inner.delete_one_expired(partition_key, entry)
        if outcome == PurgeOutcome.DELETED:
            self.audit.record(Write("purge", partition_key, entry.job_row_key, None, None, None, None, entry.etag))
        return outcome


@pytest.fixture
def audited(fresh_app):
    """An app over tables of the test's own, its store and index audited, served by the functions for the test: its
    purges read this test's jobs only, not whatever the worker's earlier tests left in the session's table (which
    made the test's time grow with the rest of the suite, from 16 s alone to 40 s in a full run)."""
    audit = Audit()

    def audit_writes(storage: Storage) -> Storage:
        return dataclasses.replace(storage, store=AuditedStore(storage.store, audit), index=AuditedIndex(storage.index, audit))

    app = fresh_app(wrap_storage=audit_writes)
    with app_in_use(app):
        yield app.storage, audit


def violations_in(writes: list[Write]) -> list[str]:
    problems = []
    versions = {w.etag: w for w in writes if w.etag}
    successors: dict[str, list[Write]] = {}
    for write in writes:
        if write.previous_etag:
            successors.setdefault(write.previous_etag, []).append(write)
    for etag, following in successors.items():
        if len(following) > 1:
            problems.append(f"{[w.kind for w in following]} all succeeded from one version {etag}")
        if etag not in versions:
            problems.append(f"{[(w.kind, w.row_key) for w in following]} conditional on {etag}, a version no write produced")
    for write in writes:
        if write.kind == "replace":
            before, after = write.previous.properties, write.new.properties
            if before.state != after.state and (before.state, after.state) not in LEGAL_EDGES:
                problems.append(f"illegal move {before.state} -> {after.state}")
            if (before.state, after.state) == (JobState.CREATING, JobState.COMPLETED) and not before.cancel_requested:
                problems.append("a job in Creating completed without a cancel")
            if (before.state, after.state) == (JobState.CREATING, JobState.SHIPPING) and before.cancel_requested:
                problems.append("a job shipped after its cancel")
            if before.state == after.state and before.state_changed_at != after.state_changed_at:
                problems.append(f"a move to {after.state} was applied twice")
            if before.cancel_requested and not after.cancel_requested:
                problems.append("a cancel request was lost")
            if (after.completed_at is not None) != (after.state in FINISHED):
                problems.append(f"completedAt wrong in state {after.state}")
        elif write.kind == "delete" and write.previous.state not in (JobState.CREATING, JobState.COMPLETED):
            problems.append(f"deleted by a customer in state {write.previous.state}")
        elif write.kind == "purge":
            # The entry's ETag names the job version the purge judged: one that can expire, and that nobody had
            # changed (a change rewrites the entry, and the purge's conditional delete would have failed).
            [version] = [w for w in writes if w.entry_etag == write.entry_etag and w.kind != "purge"] or [None]
            start = expiry_start(version.new) if version is not None else None
            if start is None or not start.kind.deletes:
                problems.append("the purge deleted a version that cannot expire")
            elif successors.get(version.etag):
                problems.append(
                    f"the purge deleted {write.row_key} after {[w.kind for w in successors[version.etag]]} changed it"
                )
    return problems


CONTENDED = "503 ConcurrentUpdate"


def answer_of(response) -> int | str:
    """The status; a 503 with its error code and message (CONTENDED is the one the contract gives under contention)."""
    if response.status_code == 503:
        error = response.json()["error"]
        return CONTENDED if error["code"] == "ConcurrentUpdate" else f"503 {error['code']}: {error['message']}"
    return response.status_code


@pytest.mark.slow
@pytest.mark.usefixtures("machine_to_itself")
def test_mixed_traffic_and_purges_keep_every_invariant(api, audited, app_settings, subscription_id):
    storage, audit = audited
    # given a few jobs, 32 threads of mixed customer and operator traffic, and purges as of 100 days on
    rng = random.Random(20261126)
    keys = [JobKey(subscription_id, "race-rg", name) for name in JOB_NAMES]
    purge_clock = FixedClock(SystemClock().now() + timedelta(days=100))
    retention = app_settings.retention
    statuses: dict[int | str, int] = {}
    sent = 0
    lock = threading.Lock()

    def one_operation(thread_rng: random.Random) -> int | str:
        key = thread_rng.choice(keys)
        roll = thread_rng.random()
        if roll < 0.15:
            return answer_of(api.put_job(key, shippable_body()))
        if roll < 0.30:
            return answer_of(api.patch_job(key, {"properties": {"state": "Shipping"}}))
        if roll < 0.45:
            return answer_of(api.cancel_job(key))
        if roll < 0.55:
            return answer_of(api.patch_job(key, {"tags": {"n": str(thread_rng.random())}}))
        if roll < 0.80:
            return answer_of(api.move_job(key, thread_rng.choice([s.value for s in JobState if s != JobState.CREATING])))
        if roll < 0.92:
            return answer_of(api.delete_job(key))
        if roll < 0.97:
            return answer_of(api.get_job(key))
        if roll < 0.985:
            CancelCompletions(storage.index, storage.directory, jobs_over(storage.store)).run()
            return 0
        Purge(storage.index, storage.directory, retention, purge_clock, timedelta(seconds=30)).run()
        return 0

    def worker(seed: int) -> None:
        nonlocal sent
        thread_rng = random.Random(seed)
        for _ in range(OPERATIONS_PER_THREAD):
            status = one_operation(thread_rng)
            with lock:
                sent += 1
                statuses[status] = statuses.get(status, 0) + 1

    # when they run, round after round
    for _ in range(ROUNDS):
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(worker, [rng.randrange(1 << 30) for _ in range(THREADS)]))

    # then every answer was one the contract has (a 503 only as the contract's answer to contention that outlasts
    # the retries, which a starved machine can reach), and no write broke an invariant
    assert set(statuses) <= {0, 200, 201, 204, 400, 404, 409, 412, CONTENDED}, statuses
    assert 500 not in statuses and 503 not in statuses
    writes = [write for write in audit.writes if write.partition_key == keys[0].partition_key]
    # and what is stored is the last version of each chain: a version a recorded write produced, and that no
    # recorded write changed (a write lost, or applied without being recorded, leaves another version stored)
    produced = {write.etag for write in writes if write.etag}
    changed = {write.previous_etag for write in writes if write.previous_etag}
    for key in keys:
        current = storage.store.get(key)
        if current is not None:
            assert current.etag in produced and current.etag not in changed, (key.job_name, current.etag)
            assert (current.job.properties.completed_at is not None) == (current.job.state in FINISHED)
    problems = violations_in(writes)
    assert problems == [], problems[:10]
    # and job and index agree, before and after the completion of the cancels left pending and one purge far in the
    # future
    assert index_problems(storage.table) == []
    CancelCompletions(storage.index, storage.directory, jobs_over(storage.store)).run()
    assert all(not cancel_pending(stored.job) for key in keys if (stored := storage.store.get(key)) is not None)
    far_future = FixedClock(SystemClock().now() + timedelta(days=3650))
    Purge(storage.index, storage.directory, retention, far_future, timedelta(minutes=1)).run()
    assert index_problems(storage.table) == []
    print(f"\nraces: {sent} operations by {THREADS} threads, {len(writes)} writes checked, statuses {statuses}, 0 violations")


CONTENDING_CLIENTS = 32
PATCHES_PER_CLIENT = 4


@pytest.mark.slow
@pytest.mark.usefixtures("machine_to_itself")
def test_32_clients_patching_one_job_all_get_their_update_applied(api, new_key):
    # given one job, and 32 clients that retry as azure-core's default policy does (Retry-After honoured)
    key = new_key()
    assert api.put_job(key, shippable_body()).status_code == 201
    tries: Counter = Counter()
    client = PipelineClient(
        api.base_url,
        policies=[RetryPolicy(), CustomHookPolicy(raw_response_hook=lambda r: tries.update([r.http_response.status_code]))],
    )

    def patch(writer: int) -> list[tuple[int, str, dict]]:
        answers = []
        for number in range(PATCHES_PER_CLIENT):
            request = HttpRequest(
                "PATCH",
                f"{api.base_url}{key.resource_id}?api-version=2021-01-01",
                json={"tags": {"writer": f"{writer}-{number}"}},
            )
            response = client.send_request(request)
            answers.append((response.status_code, response.headers.get("ETag"), response.json().get("tags")))
        return answers

    # when they all change its tags at once, each four times
    with ThreadPoolExecutor(CONTENDING_CLIENTS) as pool:
        answers = [answer for batch in pool.map(patch, range(CONTENDING_CLIENTS)) for answer in batch]
    print(f"\n{CONTENDING_CLIENTS} clients x {PATCHES_PER_CLIENT} tag updates of one job; answers per try: {dict(tries)}")
    # then every update was answered 200 with its own tags, each as a version of its own: none lost, none merged
    assert [status for status, _, _ in answers] == [200] * CONTENDING_CLIENTS * PATCHES_PER_CLIENT
    assert len({etag for _, etag, _ in answers}) == len(answers)
    sent = {f"{writer}-{number}" for writer in range(CONTENDING_CLIENTS) for number in range(PATCHES_PER_CLIENT)}
    assert {tags["writer"] for _, _, tags in answers} == sent


def test_many_threads_moving_the_same_job_apply_the_move_once(api, job_in_state):
    # given a shipped job and 24 operators all trying Shipping -> Received at once
    key = job_in_state(JobState.SHIPPING)
    with ThreadPoolExecutor(24) as pool:
        statuses = list(pool.map(lambda _: api.move_job(key, "Received").status_code, range(24)))
    # then exactly one move happened and every other one was refused
    assert statuses.count(200) == 1
    assert statuses.count(409) == 23


def test_many_threads_cancelling_and_shipping_never_lose_the_cancel(api, new_key, complete_cancels):
    # given a job in Creating, raced by cancels and ship requests
    key = new_key()
    api.put_job(key, shippable_body())
    requests = [{"properties": {"cancelRequested": True}}, {"properties": {"state": "Shipping"}}] * 12
    with ThreadPoolExecutor(24) as pool:
        statuses = list(pool.map(lambda body: api.patch_job(key, body).status_code, requests))
    # then every answer is one the contract allows, and the cancel is never lost: recorded in Creating (never shipped
    # after it) or in Shipping (shipped first)
    assert set(statuses) <= {200, 409}
    final = api.get_job(key).json()["properties"]
    assert final["cancelRequested"] is True
    assert final["state"] in ("Creating", "Shipping")
    # and once the service completes pending cancels, a job cancelled in Creating is Completed
    complete_cancels()
    assert api.get_job(key).json()["properties"]["state"] == {"Creating": "Completed", "Shipping": "Shipping"}[final["state"]]


def test_concurrent_creates_of_one_name_create_it_once(api, new_key):
    key = new_key()
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: api.put_job(key, headers={"If-None-Match": "*"}).status_code, range(16)))
    assert statuses.count(201) == 1
    assert statuses.count(412) == 15


def test_concurrent_deletes_all_answer_200_and_the_job_is_gone(api, new_key):
    # given a job
    key = new_key()
    api.put_job(key)
    # when 16 clients delete it at once
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: api.delete_job(key).status_code, range(16)))
    # then each is told 200, and the job is gone
    assert statuses == [200] * 16
    assert api.get_job(key).status_code == 404
