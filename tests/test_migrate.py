"""`python -m shared.migrate` against Azurite: jobs written before $filter get its columns, safely and once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from azure.data.tables import UpdateMode

from shared.expiry_index import IndexEntry
from shared.filters import FILTER_COLUMNS, parse_filter
from shared.jobs import JobService, Preconditions
from shared.migrate import migrate
from shared.models import JobCreateRequest, JobUpdateRequest
from shared.names import JobKey, Scope
from shared.settings import CONNECTION_SETTING, DEVELOPMENT_STORAGE, FALLBACK_CONNECTION_SETTING
from shared.store import JobStore, job_entity

from .conftest import DELIVERY_PACKAGE, ROOT, BeforeWrite, free_port, job_body, shippable_body

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000c1"
SCOPE = Scope(SUBSCRIPTION)


def as_written_before_filters(store: JobStore, key: JobKey) -> str:
    """Rewrites a job as the app wrote it before $filter (no filter columns), index in step; returns its ETag."""
    current = store.get(key)
    old_entity = {name: value for name, value in job_entity(current.job).items() if name not in FILTER_COLUMNS}
    metadata = store.table.update_entity(old_entity, mode=UpdateMode.REPLACE)
    store.index.settle(current.job, metadata["etag"], previous=current.job)
    return metadata["etag"]


def old_jobs(store: JobStore) -> dict[str, JobKey]:
    """An import never shipped, an import shipped with a tracking number and an export: all without filter columns."""
    service = JobService(store)
    keys = {name: JobKey(SUBSCRIPTION, "rg", name) for name in ("new-import", "shipped-import", "new-export")}
    bodies = {
        "new-import": job_body(),
        "shipped-import": shippable_body() | {"properties": shippable_body()["properties"] | {"deliveryPackage": {**DELIVERY_PACKAGE, "trackingNumber": "1Z-OLD"}}},
        "new-export": job_body(jobType="Export"),
    }
    for name, key in keys.items():
        service.create_job(key, JobCreateRequest.model_validate(bodies[name]), Preconditions())
    service.update_job(keys["shipped-import"], JobUpdateRequest.model_validate({"properties": {"state": "Shipping"}}), Preconditions())
    for key in keys.values():
        as_written_before_filters(store, key)
    return keys


def listed(store: JobStore, text: str) -> list[str]:
    jobs, _ = store.list(SCOPE, 100, None, job_filter=parse_filter(text))
    return sorted(job.name for job in jobs)


@pytest.fixture
def store(fresh_store) -> JobStore:
    return fresh_store()


def test_old_jobs_are_found_by_filters_once_migrated(store):
    # given jobs written the old way, which no filter finds
    old_jobs(store)
    assert listed(store, "type eq 'Import'") == []
    # when the migration runs
    report = migrate(store)
    # then each was rewritten once, and every field filters them
    assert (report.examined, report.rewritten, report.already_current) == (3, 3, 0)
    assert listed(store, "type eq 'Import'") == ["new-import", "shipped-import"]
    assert listed(store, "type eq 'export' and state eq 'creating'") == ["new-export"]
    assert listed(store, "state eq 'Shipping' and trackingnumber eq '1z-old'") == ["shipped-import"]


def test_the_migration_changes_nothing_but_the_columns_and_deletes_nothing(store):
    # given old jobs
    keys = old_jobs(store)
    before = {name: store.get(key).job for name, key in keys.items()}
    # when migrated
    migrate(store)
    # then every job is there, as it was
    assert {name: store.get(key).job for name, key in keys.items()} == before
    assert len(list(store.table.list_entities())) == 3


def test_a_second_run_rewrites_nothing(store):
    # given old jobs migrated once
    keys = old_jobs(store)
    migrate(store)
    etags = {key: store.get(key).etag for key in keys.values()}
    # when it runs again
    report = migrate(store)
    # then it finds every job current and writes none
    assert (report.examined, report.rewritten, report.already_current) == (3, 0, 3)
    assert {key: store.get(key).etag for key in keys.values()} == etags


def test_the_expiry_index_learns_the_migrated_jobs_etag(store):
    # given an old job in Creating, whose index entry names its version
    key = old_jobs(store)["new-import"]
    # when it is migrated (a new version, a new ETag)
    migrate(store)
    # then its index entry names the new version, so the purge can still delete it unread
    current = store.get(key)
    entry = store.index.table.get_entity(*IndexEntry.for_job(current.job).address)
    assert entry["JobEtag"] == current.etag


def test_a_dry_run_counts_and_writes_nothing(store):
    keys = old_jobs(store)
    etags = {key: store.get(key).etag for key in keys.values()}
    report = migrate(store, dry_run=True)
    assert (report.examined, report.rewritten) == (3, 3)
    assert {key: store.get(key).etag for key in keys.values()} == etags
    assert "would add the filter columns to 3" in report.summary()


def test_a_job_changed_by_an_old_writer_meanwhile_is_read_again_and_keeps_that_change(fresh_store):
    # given an old job, and an app of the old version that retags it just before the migration writes it
    healthy = fresh_store()
    key = JobKey(SUBSCRIPTION, "rg", "busy")
    JobService(healthy).create_job(key, JobCreateRequest.model_validate(job_body()), Preconditions())
    as_written_before_filters(healthy, key)

    def old_app_retags() -> None:
        current = healthy.get(key)
        healthy.replace(current.job.model_copy(update={"tags": {"retagged": "yes"}}), current)
        as_written_before_filters(healthy, key)

    hook = BeforeWrite(1, old_app_retags)
    migrating = fresh_store(raw_request_hook=hook)
    hook.armed = True
    # when the migration runs
    report = migrate(migrating)
    # then its conditional write lost, it read the job again and gave the new version the columns
    assert (report.raced, report.rewritten) == (1, 1)
    assert healthy.get(key).job.tags == {"retagged": "yes"}
    assert [job.name for job in healthy.list(SCOPE, 10, None, job_filter=parse_filter("type eq 'Import'"))[0]] == ["busy"]


def test_a_job_rewritten_by_this_version_meanwhile_is_left_as_its_write_left_it(fresh_store):
    # given an old job that this version of the app cancels just before the migration writes it
    healthy = fresh_store()
    key = JobKey(SUBSCRIPTION, "rg", "cancelled")
    JobService(healthy).create_job(key, JobCreateRequest.model_validate(job_body()), Preconditions())
    as_written_before_filters(healthy, key)
    cancel = JobUpdateRequest.model_validate({"properties": {"cancelRequested": True}})
    hook = BeforeWrite(1, lambda: JobService(healthy).update_job(key, cancel, Preconditions()))
    migrating = fresh_store(raw_request_hook=hook)
    hook.armed = True
    # when the migration runs
    report = migrate(migrating)
    # then it found the new version already had its columns, and wrote nothing over it
    assert (report.raced, report.rewritten, report.already_current) == (1, 0, 1)
    assert listed(healthy, "state eq 'Completed'") == ["cancelled"]


def test_a_row_that_is_not_a_job_is_left_alone(store):
    # given a row the app cannot read as a job
    store.table.create_entity({"PartitionKey": SUBSCRIPTION, "RowKey": "stray", "Note": "not a job"})
    # when the migration runs
    report = migrate(store)
    # then it is counted, kept and unchanged
    assert report.unreadable == 1
    assert store.table.get_entity(SUBSCRIPTION, "stray")["Note"] == "not a job"


def run_cli(args, env_changes: dict[str, str], drop: tuple[str, ...] = ()):
    env = {name: value for name, value in os.environ.items() if name not in drop} | env_changes
    return subprocess.run([sys.executable, "-m", "shared.migrate", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_command_migrates_and_prints_one_summary_line(azurite, store):
    # given old jobs in the table the settings name
    old_jobs(store)
    # when the command runs
    result = run_cli([], {"IMPORTEXPORT_STORAGE_CONNECTION": azurite, "IMPORTEXPORT_TABLE_NAME": store.table.table_name})
    # then it exits 0 with one summary line, and the jobs are found by filters
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [result.stdout.strip()]
    assert result.stdout.startswith("migrate: examined 3 jobs in ") and "added the filter columns to 3;" in result.stdout
    assert listed(store, "type eq 'Import'") == ["new-import", "shipped-import"]


def test_the_command_says_in_one_line_when_storage_is_down(store):
    nowhere = DEVELOPMENT_STORAGE.replace("127.0.0.1:10002", f"127.0.0.1:{free_port()}")
    result = run_cli([], {"IMPORTEXPORT_STORAGE_CONNECTION": nowhere, "IMPORTEXPORT_TABLE_NAME": store.table.table_name})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "python -m shared.migrate: the storage service did not answer (ServiceRequestError); run it again to finish"
    ]


def test_the_command_says_in_one_line_when_no_storage_is_configured():
    result = run_cli([], {}, drop=(CONNECTION_SETTING, FALLBACK_CONNECTION_SETTING))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert CONNECTION_SETTING in result.stderr


def test_the_command_explains_itself():
    result = run_cli(["--help"], {})
    assert result.returncode == 0
    assert "usage: python -m shared.migrate" in result.stdout and "--dry-run" in result.stdout
