"""The purge as its users run it: the timer function, the dev host's admin endpoint, and `python -m shared.purge`
(previews, real runs, refusals, one line when storage or the settings fail)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
from azure.data.tables import TableServiceClient
from azure.functions.timer import TimerRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.azurite import ROOT, free_port
from shared.app import Storage, open_app
from shared.domain.clock import SystemClock, TimeOutOfRange, to_utc
from shared.domain.job import JobState
from shared.domain.names import JobKey
from shared.domain.retention import is_expired
from shared.purge import main as purge_command
from shared.settings import CONNECTION_SETTING, DEVELOPMENT_STORAGE, FALLBACK_CONNECTION_SETTING

from ..builders import NOW, RETENTION, SUBSCRIPTIONS, History
from ..harness import (
    app_without_local_settings,
    serving_app,
    surviving,
)


def test_the_timer_function_purges_and_logs(job_store, caplog):
    import purge_timer

    # given an expired job in the app's own table
    key = History(job_store).job(
        JobKey("00000000-0000-0000-0000-0000000000f1", "rg", "timer"), JobState.CLOSED, NOW - timedelta(days=91)
    )
    # when the timer fires late
    with caplog.at_level(logging.INFO, logger="importexport.purge"):
        purge_timer.main(TimerRequest(past_due=True))
    # then the job is gone and the log says what and how long
    assert job_store.get(key) is None
    assert "past due" in caplog.text
    assert "deleted" in caplog.text and "Closed 1" in caplog.text and " s;" in caplog.text


def test_the_dev_host_runs_the_purge_from_its_admin_endpoint(job_store, devhost):
    import requests

    key = History(job_store).job(
        JobKey("00000000-0000-0000-0000-0000000000f2", "rg", "admin"), JobState.COMPLETED, NOW - timedelta(days=91)
    )
    response = requests.post(f"{devhost.base_url}/admin/functions/purge_timer", json={"input": ""}, timeout=30)
    assert response.status_code == 202
    assert job_store.get(key) is None


def run_cli(args, table: str, connection: str):
    env = {**os.environ, "IMPORTEXPORT_STORAGE_CONNECTION": connection, "IMPORTEXPORT_TABLE_NAME": table}
    return subprocess.run(
        [sys.executable, "-m", "shared.purge", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_command_line_previews_and_purges(azurite, mixed, storage):
    expired, kept = mixed
    table = storage.table.table_name
    # a dry run in the future lists more, deletes nothing
    preview = run_cli(["--dry-run", "--as-of", (NOW + timedelta(days=2)).isoformat()], table, azurite)
    assert preview.returncode == 0, preview.stderr
    lines = preview.stdout.strip().splitlines()
    assert len([line for line in lines if line.startswith("would delete ")]) == 5
    assert "would delete 5 jobs" in lines[-1]
    assert surviving(storage, expired | kept) == expired | kept
    # the future is refused without --dry-run
    refused = run_cli(["--as-of", "2999-01-01T00:00:00Z"], table, azurite)
    assert refused.returncode == 2 and "--dry-run" in refused.stderr
    # a real run prints each deleted job's resource id, then the summary
    real = run_cli([], table, azurite)
    assert real.returncode == 0, real.stderr
    printed = {line.split()[-1] for line in real.stdout.splitlines() if line.startswith("deleted ")}
    assert printed == {key.resource_id for key in expired}
    assert "deleted 3 jobs (Closed 1, Completed 1, Creating 1)" in real.stdout
    assert surviving(storage, expired | kept) == kept


def test_the_command_refuses_a_time_outside_the_accepted_range(azurite, storage):
    # given a time whose UTC form would be in the year 0
    # when the command is asked to purge as of it
    refused = run_cli(["--dry-run", "--as-of", "0001-01-01T00:00:00+01:00"], storage.table.table_name, azurite)
    # then it answers as argparse does: a usage line, the reason, exit 2, no traceback
    assert refused.returncode == 2
    assert "error: argument --as-of:" in refused.stderr and "outside the times" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(("args", "unfinished"), [([], "nothing more was purged"), (["--dry-run"], "the preview stopped there")])
def test_the_command_says_in_one_line_when_storage_is_down_where_it_looked_and_what_to_check(storage, args, unfinished):
    # given a connection string to a port where nothing listens
    port = free_port()
    nowhere = DEVELOPMENT_STORAGE.replace("127.0.0.1:10002", f"127.0.0.1:{port}")
    # when the command runs
    result = run_cli(args, storage.table.table_name, nowhere)
    # then it says so in one line, naming the endpoint and the settings to check, and exits 1; a dry run purged nothing
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("python -m shared.purge: the storage service did not answer (ServiceRequestError) at ")
    assert f"127.0.0.1:{port}" in line and "make run" in line and "AzureWebJobsStorage" in line
    assert line.endswith(f"; {unfinished}")


@pytest.mark.parametrize("command", ["shared.purge", "shared.migrate"])
def test_a_dry_run_against_a_missing_table_says_so_and_creates_nothing(azurite, command):
    # given a table name no table has (a typo, say)
    missing = "Typo" + uuid.uuid4().hex[:10]
    env = {**os.environ, "IMPORTEXPORT_STORAGE_CONNECTION": azurite, "IMPORTEXPORT_TABLE_NAME": missing}
    # when a dry run of the command runs against it
    result = subprocess.run(
        [sys.executable, "-m", command, "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    # then it names the missing table in one line and exits 2, and the table was not created
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert f"the table '{missing}' does not exist" in line and "IMPORTEXPORT_TABLE_NAME" in line
    assert missing not in [table.name for table in TableServiceClient.from_connection_string(azurite).list_tables()]


def test_the_command_says_in_one_line_when_no_storage_is_configured(tmp_path):
    # given no storage setting in the environment, nor a local.settings.json
    unset = (CONNECTION_SETTING, FALLBACK_CONNECTION_SETTING, "PYTHONPATH")
    env = {name: value for name, value in os.environ.items() if name not in unset}
    app = app_without_local_settings(tmp_path)
    # when the command runs
    result = subprocess.run(
        [sys.executable, "-m", "shared.purge", "--dry-run"], cwd=app, env=env, capture_output=True, text=True, timeout=60
    )
    # then it names the setting in one line and exits 2
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert CONNECTION_SETTING in result.stderr


# Any time `datetime` can hold, in any UTC offset, and many near today, where the expiry lines are.
offsets = st.integers(min_value=-1439, max_value=1439).map(lambda minutes: timezone(timedelta(minutes=minutes)))


as_of_times = st.one_of(
    st.datetimes(timezones=offsets),
    st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)).map(lambda delta: NOW + delta),
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(as_of=as_of_times)
def test_the_command_deletes_exactly_what_its_dry_run_lists_and_only_expired_jobs(app_settings, capsys, as_of):
    # given a table of its own with jobs on both sides of every expiry line today
    settings = app_settings.model_copy(update={"table_name": "Cli" + uuid.uuid4().hex[:12]})
    with open_app(settings) as app:
        history = History(app.storage.store)
        keys = [
            history.job(JobKey(SUBSCRIPTIONS[0], "rg", f"job-{index}"), state, NOW - timedelta(days=days))
            for index, (state, days) in enumerate(
                [
                    (JobState.COMPLETED, 91),
                    (JobState.COMPLETED, 89),
                    (JobState.CLOSED, 120),
                    (JobState.CREATING, 15),
                    (JobState.CREATING, 13),
                    (JobState.SHIPPING, 400),
                ]
            )
        ]
        jobs_before = {key: app.storage.store.get(key).job for key in keys}
        # and the command's settings in the environment, where a user gives them
        environment = {
            "IMPORTEXPORT_STORAGE_CONNECTION": settings.storage_connection,
            "IMPORTEXPORT_TABLE_NAME": settings.table_name,
        }
        try:
            with mock.patch.dict(os.environ, environment):
                the_command_deletes_what_it_lists(app.storage, jobs_before, capsys, as_of)
        finally:
            app.storage.table.delete_table()


def the_command_deletes_what_it_lists(storage: Storage, jobs_before: dict, capsys, as_of: datetime) -> None:
    keys, text = list(jobs_before), as_of.isoformat()
    try:
        to_utc(as_of)
    except TimeOutOfRange:
        # when the time is outside the accepted range, then the command refuses it and deletes nothing
        with pytest.raises(SystemExit) as refused:
            purge_command(["--as-of", text])
        assert refused.value.code == 2 and "outside the times" in capsys.readouterr().err
        assert surviving(storage, keys) == set(keys)
        return
    # when it previews, then it lists exactly the jobs expired at that time
    expected = {key.resource_id for key, job in jobs_before.items() if is_expired(job, as_of, RETENTION)}
    assert purge_command(["--dry-run", "--as-of", text]) == 0
    assert listed(capsys.readouterr().out, "would delete ") == expected
    if as_of > SystemClock().now():
        return  # a real run in the future is refused (tested above)
    # and when it purges for real, then it deletes exactly what the preview listed, nothing else
    assert purge_command(["--as-of", text]) == 0
    assert listed(capsys.readouterr().out, "deleted ") == expected
    assert {key.resource_id for key in keys} - {key.resource_id for key in surviving(storage, keys)} == expected


def listed(output: str, prefix: str) -> set[str]:
    """The resource ids of the command's per-job lines."""
    return {line.split()[-1] for line in output.splitlines() if line.startswith(prefix)}


def test_the_command_says_when_storage_refuses_the_credentials(azurite, storage):
    # given a connection string to the right storage with a wrong (but well-formed) key
    wrong_key = re.sub(r"AccountKey=[^;]+", "AccountKey=YWJj", azurite)
    # when the command runs
    result = run_cli(["--dry-run"], storage.table.table_name, wrong_key)
    # then it says the credentials were refused, a setting to fix, and exits 2 as for other settings
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "python -m shared.purge: the storage service refused the app's credentials (403 AuthorizationFailure); check the "
        "connection string's account key, or that the identity has Storage Table Data Contributor on the table;"
        " the preview stopped there"
    ]


def test_the_timer_logs_one_line_when_storage_is_down(app_settings, caplog):
    import purge_timer

    # given the app pointed at a port where no storage listens
    nowhere = DEVELOPMENT_STORAGE.replace("127.0.0.1:10002", f"127.0.0.1:{free_port()}")
    with serving_app(app_settings.model_copy(update={"storage_connection": nowhere})):
        # when the timer fires
        with caplog.at_level(logging.INFO, logger="importexport.purge"):
            purge_timer.main(TimerRequest(past_due=False))
    # then the run ends with one error line, no stack trace, for the next run to continue
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in errors] == [
        "purge stopped: the storage service did not answer (ServiceRequestError); the next run continues"
    ]
    assert all(record.exc_info is None for record in errors)
