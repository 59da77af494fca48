"""`python -m shared.migrate` against Azurite: jobs written by the previous layout brought up to date, safely and once.

The previous layout wrote jobs without filter columns and kept their expiry
entries in a table of their own (`<table>Expiry`, partition `{clock}-{day}`).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from scripts.azurite import ROOT, free_port
from shared.api.filters import parse_filter
from shared.app import Storage
from shared.domain.clock import FixedClock, SystemClock
from shared.domain.job import JobProperties, JobState
from shared.domain.jobs import Preconditions
from shared.domain.names import JobKey, Scope
from shared.domain.requests import JobCreateRequest
from shared.domain.retention import Retention
from shared.ops.migrate import MigrationReport, migrate
from shared.ops.purge import Purge
from shared.settings import CONNECTION_SETTING, DEVELOPMENT_STORAGE, FALLBACK_CONNECTION_SETTING
from shared.storage.entities import FILTER_COLUMNS, PROPERTIES_COLUMN, is_index_row, stored_job
from shared.storage.expiry_index import ExpiryEntry, format_time

from ..builders import DELIVERY_PACKAGE, create_request, job_body, jobs_over, shippable_body, update_request
from ..harness import BeforeWrite, another_process, app_without_local_settings, expiry_entries, index_problems

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000c1"
SCOPE = Scope(SUBSCRIPTION)
NOW = SystemClock().now()
RETENTION = Retention(finished=timedelta(days=90), creating=timedelta(days=14))


def as_previous_layout(storage: Storage, azurite: str) -> None:
    """Rewrites the jobs table as the previous layout had it: jobs without filter columns or Layout, their
    properties under "Properties", their expiry entries (with the job's ETag) in `<table>Expiry`, nothing beside the jobs."""
    table = storage.table
    legacy = TableClient.from_connection_string(azurite, table.table_name + "Expiry")
    legacy.create_table()
    for entity in list(table.list_entities()):
        if is_index_row(entity):
            table.delete_entity(entity["PartitionKey"], entity["RowKey"])
            continue
        job = stored_job(entity).job
        old = {
            name: value
            for name, value in entity.items()
            if name not in FILTER_COLUMNS.values() and name not in ("Layout", PROPERTIES_COLUMN)
        }
        old["Properties"] = entity[PROPERTIES_COLUMN]
        etag = table.update_entity(old, mode=UpdateMode.REPLACE)["etag"]
        entry = ExpiryEntry.for_job(job)
        if entry is not None:
            legacy.create_entity(
                {
                    "PartitionKey": f"{entry.kind.value}-{format_time(entry.started)[:10]}",
                    "RowKey": f"{format_time(entry.started)}|{entity['PartitionKey']}|{entity['RowKey']}",
                    "JobPartitionKey": entity["PartitionKey"],
                    "JobRowKey": entity["RowKey"],
                    "ResourceId": entry.resource_id,
                    "State": entry.state.value,
                    "JobEtag": etag,
                }
            )


def old_jobs(storage: Storage, azurite: str) -> dict[str, JobKey]:
    """An import never shipped, an import shipped with a tracking number, an export, and two that have expired
    (cancelled 100 days ago, left in Creating 20 days ago): all written by the previous layout."""
    keys = {
        name: JobKey(SUBSCRIPTION, "rg", name)
        for name in ("new-import", "shipped-import", "new-export", "old-cancelled", "old-creating")
    }
    bodies = {
        "new-import": job_body(),
        "shipped-import": shippable_body()
        | {"properties": shippable_body()["properties"] | {"deliveryPackage": {**DELIVERY_PACKAGE, "trackingNumber": "1Z-OLD"}}},
        "new-export": job_body(jobType="Export"),
        "old-cancelled": job_body(),
        "old-creating": job_body(),
    }
    times = {"old-cancelled": NOW - timedelta(days=100), "old-creating": NOW - timedelta(days=20)}
    # Written through a store of its own: the directory rows it remembers writing are gone with the old layout.
    writer = another_process(storage.table)
    for name, key in keys.items():
        service = jobs_over(writer, FixedClock(times.get(name, NOW)))
        service.create_job(key, JobCreateRequest.model_validate(bodies[name]), Preconditions())
    jobs_over(writer).update_job(keys["shipped-import"], update_request({"properties": {"state": "Shipping"}}), Preconditions())
    cancel = update_request({"properties": {"cancelRequested": True}})
    cancelling = jobs_over(writer, FixedClock(times["old-cancelled"]))
    cancelling.update_job(keys["old-cancelled"], cancel, Preconditions())
    cancelling.complete_cancel(keys["old-cancelled"])  # as the previous versions did at once
    as_previous_layout(storage, azurite)
    return keys


def listed(storage: Storage, text: str) -> list[str]:
    jobs = storage.store.list_jobs(SCOPE, 100, None, job_filter=parse_filter(text)).jobs
    return sorted(job.name for job in jobs)


def jobs_in(storage: Storage) -> list[dict]:
    return [entity for entity in storage.table.list_entities() if not is_index_row(entity)]


def purge(storage: Storage):
    return Purge(storage.index, storage.directory, RETENTION, FixedClock(NOW), timedelta(minutes=5)).run()


def run_migration(storage: Storage, *, dry_run: bool = False) -> MigrationReport:
    return migrate(storage.table, storage.store, dry_run=dry_run)


def test_old_jobs_are_found_by_filters_once_migrated(storage, azurite):
    # given jobs written the old way, which no filter finds
    old_jobs(storage, azurite)
    assert listed(storage, "type eq 'Import'") == []
    # when the migration runs
    report = run_migration(storage)
    # then each was rewritten once, and every field filters them
    assert (report.examined, report.rewritten, report.already_current) == (5, 5, 0)
    assert listed(storage, "type eq 'Import' and state eq 'Shipping'") == ["shipped-import"]
    assert listed(storage, "type eq 'export' and state eq 'creating'") == ["new-export"]
    assert listed(storage, "state eq 'Shipping' and trackingnumber eq '1z-old'") == ["shipped-import"]


def test_every_expired_old_job_is_found_by_the_next_purge_once_migrated(storage, azurite):
    # given old jobs, two of them expired, whose entries are in the old index table the purge no longer reads
    keys = old_jobs(storage, azurite)
    assert purge(storage).total_deleted == 0
    # when the migration runs
    run_migration(storage)
    # then job and index agree, and the next purge deletes exactly the two expired jobs
    assert index_problems(storage.table) == []
    assert purge(storage).deleted == {"Completed": 1, "Creating": 1}
    assert {name for name, key in keys.items() if storage.store.get(key) is None} == {"old-cancelled", "old-creating"}


def test_old_jobs_keep_working_before_the_migration(storage, azurite):
    # given old jobs, not migrated
    keys = old_jobs(storage, azurite)
    service = jobs_over(storage.store)
    # when the API changes one, cancels another (and the service completes the cancel) and deletes a third
    service.update_job(keys["new-import"], update_request({"tags": {"v": "2"}}), Preconditions())
    service.update_job(keys["new-export"], update_request({"properties": {"cancelRequested": True}}), Preconditions())
    service.complete_cancel(keys["new-export"])
    assert service.delete_job(keys["old-cancelled"], Preconditions())
    # then each write took effect, and each job written since has its entry beside it
    assert storage.store.get(keys["new-import"]).job.tags == {"v": "2"}
    assert storage.store.get(keys["new-export"]).job.state == JobState.COMPLETED
    assert storage.store.get(keys["old-cancelled"]) is None
    assert {entity["JobRowKey"] for entity in expiry_entries(storage.table)} == {"rg:new-import", "rg:new-export"}


def previous_app_ships(table: TableClient, key: JobKey) -> None:
    """What an app of the previous layout does to ship a job: read it as that layout reads jobs, and write it back
    in that layout, conditional on the ETag read, without a look at the entry beside it."""
    entity = table.get_entity(key.partition_key, key.row_key)
    properties = JobProperties.model_validate_json(entity["Properties"])
    shipped = properties.model_copy(update={"state": JobState.SHIPPING})
    written = {name: value for name, value in entity.items() if name not in FILTER_COLUMNS and name != "Layout"}
    written["Properties"] = shipped.model_dump_json(by_alias=True, exclude_none=True)
    table.update_entity(
        written, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"], match_condition=MatchConditions.IfNotModified
    )


def test_an_app_of_the_previous_layout_cannot_write_a_job_behind_its_entry(storage):
    # given a job this version left in Creating 20 days ago: its entry says it expired after 14
    key = JobKey(SUBSCRIPTION, "rg", "deploying")
    jobs_over(storage.store, FixedClock(NOW - timedelta(days=20))).create_job(key, create_request(), Preconditions())
    # when an app of the previous layout, still serving during a deploy, ships it
    # then it cannot read the job, so it writes nothing (were its write to land, the entry beside would still say
    # Creating, and the purge would delete a job on its way to the datacenter)
    with pytest.raises(KeyError, match="Properties"):
        previous_app_ships(storage.table, key)
    assert storage.store.get(key).job.state == JobState.CREATING
    assert index_problems(storage.table) == []


def test_the_migration_changes_no_job_and_deletes_nothing(storage, azurite):
    # given old jobs
    keys = old_jobs(storage, azurite)
    before = {name: storage.store.get(key).job for name, key in keys.items()}
    # when migrated
    run_migration(storage)
    # then every job is there, as it was
    assert {name: storage.store.get(key).job for name, key in keys.items()} == before
    assert len(jobs_in(storage)) == 5


def test_a_second_run_rewrites_nothing(storage, azurite):
    # given old jobs migrated once
    keys = old_jobs(storage, azurite)
    run_migration(storage)
    etags = {key: storage.store.get(key).etag for key in keys.values()}
    # when it runs again
    report = run_migration(storage)
    # then it finds every job current and writes none
    assert (report.examined, report.rewritten, report.already_current) == (5, 0, 5)
    assert {key: storage.store.get(key).etag for key in keys.values()} == etags


def test_a_dry_run_counts_and_writes_nothing(storage, azurite):
    keys = old_jobs(storage, azurite)
    etags = {key: storage.store.get(key).etag for key in keys.values()}
    report = run_migration(storage, dry_run=True)
    assert (report.examined, report.rewritten) == (5, 5)
    assert {key: storage.store.get(key).etag for key in keys.values()} == etags
    assert "would bring 5 to the current layout" in report.summary()


def test_a_job_changed_by_an_old_writer_meanwhile_is_read_again_and_keeps_that_change(fresh_app, azurite):
    # given an old job, and an app of the old version that retags it just before the migration writes it
    healthy = fresh_app().storage
    key = JobKey(SUBSCRIPTION, "rg", "busy")
    jobs_over(another_process(healthy.table)).create_job(key, create_request(), Preconditions())
    as_previous_layout(healthy, azurite)

    def old_app_retags() -> None:
        entity = healthy.table.get_entity(key.partition_key, key.row_key)
        healthy.table.update_entity({**entity, "Tags": '{"retagged":"yes"}'}, mode=UpdateMode.REPLACE)

    hook = BeforeWrite(1, old_app_retags)
    migrating = fresh_app(raw_request_hook=hook).storage
    hook.armed = True
    # when the migration runs
    report = run_migration(migrating)
    # then its conditional write lost, it read the job again and brought the new version up to date
    assert (report.raced, report.rewritten) == (1, 1)
    assert healthy.store.get(key).job.tags == {"retagged": "yes"}
    assert [job.name for job in healthy.store.list_jobs(SCOPE, 10, None, job_filter=parse_filter("type eq 'Import'")).jobs] == [
        "busy"
    ]
    assert index_problems(healthy.table) == []


def test_a_job_rewritten_by_this_version_meanwhile_is_left_as_its_write_left_it(fresh_app, azurite):
    # given an old job that this version of the app cancels just before the migration writes it
    healthy = fresh_app().storage
    key = JobKey(SUBSCRIPTION, "rg", "cancelled")
    jobs_over(another_process(healthy.table)).create_job(key, create_request(), Preconditions())
    as_previous_layout(healthy, azurite)
    cancel = update_request({"properties": {"cancelRequested": True}})
    hook = BeforeWrite(1, lambda: jobs_over(healthy.store).update_job(key, cancel, Preconditions()))
    migrating = fresh_app(raw_request_hook=hook).storage
    hook.armed = True
    # when the migration runs
    report = run_migration(migrating)
    # then it found the new version already up to date, and wrote nothing over it
    assert (report.raced, report.rewritten, report.already_current) == (1, 0, 1)
    assert listed(healthy, "state eq 'Creating'") == ["cancelled"]
    assert healthy.store.get(key).job.properties.cancel_requested
    assert index_problems(healthy.table) == []


def test_a_row_that_is_not_a_job_is_left_alone(storage):
    # given a row the app cannot read as a job
    storage.table.create_entity({"PartitionKey": SUBSCRIPTION, "RowKey": "stray", "Note": "not a job"})
    # when the migration runs
    report = run_migration(storage)
    # then it is counted, kept and unchanged
    assert report.unreadable == 1
    assert storage.table.get_entity(SUBSCRIPTION, "stray")["Note"] == "not a job"


@pytest.mark.parametrize(
    "damage", [{"Tags": 7}, {"Layout": "two"}, {"Properties": 7}, {"JobName": None}], ids=["tags", "layout", "properties", "name"]
)
def test_a_damaged_row_is_counted_and_the_jobs_after_it_are_still_migrated(storage, azurite, damage):
    # given old jobs, and before them in key order a row with a column of the wrong type
    keys = old_jobs(storage, azurite)
    storage.table.create_entity(
        {
            "PartitionKey": SUBSCRIPTION,
            "RowKey": "a:damaged",
            "SubscriptionId": SUBSCRIPTION,
            "ResourceGroup": "a",
            "JobName": "damaged",
            "Location": "westus",
            "Tags": "{}",
            "Properties": "{}",
        }
        | damage
    )
    # when the migration runs
    report = run_migration(storage)
    # then the row is counted and left as it was, and every job is migrated (the expired ones found by the purge)
    assert (report.unreadable, report.rewritten) == (1, 5)
    assert storage.table.get_entity(SUBSCRIPTION, "a:damaged").get(next(iter(damage))) == next(iter(damage.values()))
    assert purge(storage).deleted == {"Completed": 1, "Creating": 1}
    assert storage.store.get(keys["new-import"]) is not None


def a_job_too_large_to_write_back(storage) -> str:
    """An old job this version can read but not write: tags of 32,401 characters of JSON (which storage holds, but
    over the app's limit of 32,000), before the other jobs in key order. Returns its row key."""
    old = storage.table.get_entity(SUBSCRIPTION, "rg:new-import")
    tags = {f"{i:02d}" + "t" * 384: "v" * 256 for i in range(50)}
    storage.table.create_entity(
        {**old, "RowKey": "a:huge", "ResourceGroup": "a", "JobName": "huge", "Tags": json.dumps(tags, separators=(",", ":"))}
    )
    return "a:huge"


def test_a_job_that_cannot_be_written_back_is_counted_and_the_jobs_after_it_are_still_migrated(storage, azurite, caplog):
    # given old jobs, and before them one too large to write back
    keys = old_jobs(storage, azurite)
    huge = a_job_too_large_to_write_back(storage)
    # when the migration runs
    with caplog.at_level(logging.ERROR, logger="importexport.migrate"):
        report = run_migration(storage)
    # then that job is left as it was, said with its keys, and every other job is migrated
    assert (report.unwritable, report.rewritten) == (1, 5)
    assert any(huge in message and "cannot be rewritten" in message for message in caplog.messages)
    assert "1 could not be rewritten" in report.summary()
    assert purge(storage).deleted == {"Completed": 1, "Creating": 1}
    assert storage.store.get(keys["new-import"]) is not None


def test_the_command_exits_3_when_it_left_jobs_it_could_not_migrate(storage, azurite):
    old_jobs(storage, azurite)
    a_job_too_large_to_write_back(storage)
    result = run_cli([], {"IMPORTEXPORT_STORAGE_CONNECTION": azurite, "IMPORTEXPORT_TABLE_NAME": storage.table.table_name})
    assert result.returncode == 3, result.stderr
    assert "brought 5 to the current layout" in result.stdout and "Traceback" not in result.stderr


def run_cli(args, env_changes: dict[str, str], drop: tuple[str, ...] = (), app: Path = ROOT):
    env = {name: value for name, value in os.environ.items() if name not in drop} | env_changes
    return subprocess.run(
        [sys.executable, "-m", "shared.migrate", *args], cwd=app, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_command_migrates_and_prints_one_summary_line(azurite, storage):
    # given old jobs in the table the settings name
    old_jobs(storage, azurite)
    # when the command runs
    result = run_cli([], {"IMPORTEXPORT_STORAGE_CONNECTION": azurite, "IMPORTEXPORT_TABLE_NAME": storage.table.table_name})
    # then it exits 0 with one summary line, and the jobs are found by filters
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [result.stdout.strip()]
    assert result.stdout.startswith("migrate: examined 5 jobs in ") and "brought 5 to the current layout;" in result.stdout
    assert listed(storage, "type eq 'Import' and state eq 'Shipping'") == ["shipped-import"]


def test_the_command_says_in_one_line_when_storage_is_down(storage):
    nowhere = DEVELOPMENT_STORAGE.replace("127.0.0.1:10002", f"127.0.0.1:{free_port()}")
    result = run_cli([], {"IMPORTEXPORT_STORAGE_CONNECTION": nowhere, "IMPORTEXPORT_TABLE_NAME": storage.table.table_name})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("python -m shared.migrate: the storage service did not answer (ServiceRequestError) at ")
    assert line.endswith("; run it again to finish")


def test_the_command_says_in_one_line_when_no_storage_is_configured(tmp_path):
    # given no storage setting in the environment, nor a local.settings.json
    unset = (CONNECTION_SETTING, FALLBACK_CONNECTION_SETTING, "PYTHONPATH")
    # when the command runs, then it names the setting in one line and exits 2
    result = run_cli([], {}, drop=unset, app=app_without_local_settings(tmp_path))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert CONNECTION_SETTING in result.stderr


def test_the_command_explains_itself():
    result = run_cli(["--help"], {})
    assert result.returncode == 0
    assert "usage: python -m shared.migrate" in result.stdout and "--dry-run" in result.stdout
