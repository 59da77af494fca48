"""No row stops the purge: rows of the index or the directory it cannot read (damage no write of the app makes) are
skipped, counted and logged with their keys, and every expired job outside them still goes, in every subscription."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.domain.job import JobState
from shared.domain.names import JobKey
from shared.storage.expiry_index import format_time

from ..builders import NOW, SUBSCRIPTIONS, History
from ..harness import purge_at, surviving
from .test_purge_command import run_cli

OLD = NOW - timedelta(days=100)
QUARTER = f"{OLD.year:04d}-Q{(OLD.month - 1) // 3 + 1}"


def entry_key(kind: str, job: str) -> str:
    return f"!{kind}|{format_time(OLD)}|rg:{job}"


# Each damage: (what it is, the rows it writes into the table as (partition, entity)). Several subscriptions.
DAMAGES = {
    "an index row without its columns": [(SUBSCRIPTIONS[0], {"RowKey": entry_key("finished", "ghost")})],
    "an index row whose start is not a time": [
        (
            SUBSCRIPTIONS[1],
            {
                "RowKey": entry_key("finished", "bad-time"),
                "JobRowKey": "rg:bad-time",
                "ResourceId": "/x",
                "State": "Completed",
                "Started": "yesterday",
            },
        )
    ],
    "an index row of an unknown state": [
        (
            SUBSCRIPTIONS[2],
            {
                "RowKey": entry_key("creating", "sideways"),
                "JobRowKey": "rg:sideways",
                "ResourceId": "/x",
                "State": "Sideways",
                "Started": format_time(OLD),
            },
        )
    ],
    **{
        f"an index row whose start is {what}": [
            (
                SUBSCRIPTIONS[1],
                {
                    "RowKey": entry_key("finished", f"start-{number}"),
                    "JobRowKey": f"rg:start-{number}",
                    "ResourceId": "/x",
                    "State": "Completed",
                    "Started": started,
                },
            )
        ]
        for number, (what, started) in enumerate(
            [
                ("without its zone", OLD.replace(tzinfo=None).isoformat()),
                ("a date alone", OLD.date().isoformat()),
                ("out of UTC's range", "0001-01-01T00:00:00+05:00"),
                ("a number", 7),
            ]
        )
    },
    "an index row whose job row key is not text": [
        (
            SUBSCRIPTIONS[2],
            {
                "RowKey": entry_key("finished", "7"),
                "JobRowKey": 7,
                "ResourceId": "/x",
                "State": "Completed",
                "Started": format_time(OLD),
            },
        )
    ],
    "an index row of a state its kind never has": [
        (
            SUBSCRIPTIONS[2],
            {
                "RowKey": entry_key("finished", "shipped-2"),
                "JobRowKey": "rg:shipped-2",
                "ResourceId": "/x",
                "State": "Shipping",
                "Started": format_time(OLD),
            },
        )
    ],
    "an index row whose key names another job": [
        (
            SUBSCRIPTIONS[0],
            {
                "RowKey": entry_key("finished", "one"),
                "JobRowKey": "rg:other",
                "ResourceId": "/x",
                "State": "Completed",
                "Started": format_time(OLD),
            },
        )
    ],
    "a directory day that is not a date": [(f"!finished|{QUARTER}", {"RowKey": SUBSCRIPTIONS[1], "D1399": True})],
    "a directory partition that names no quarter": [("!finished|0000-Q1", {"RowKey": SUBSCRIPTIONS[2], "D0101": True})],
}
DAMAGES["all of them at once"] = [row for rows in list(DAMAGES.values()) for row in rows]


@pytest.fixture
def jobs_on_both_sides(storage):
    """In each subscription: a finished job and one left in Creating that have expired, and one of each that has not."""
    history = History(storage.store)
    expired, kept = set(), set()
    for number, subscription in enumerate(SUBSCRIPTIONS):
        expired.add(history.job(JobKey(subscription, "rg", f"done-{number}"), JobState.COMPLETED, OLD))
        expired.add(history.job(JobKey(subscription, "rg", f"left-{number}"), JobState.CREATING, NOW - timedelta(days=20)))
        kept.add(history.job(JobKey(subscription, "rg", f"recent-{number}"), JobState.COMPLETED, NOW - timedelta(days=10)))
        kept.add(history.job(JobKey(subscription, "rg", f"new-{number}"), JobState.CREATING, NOW - timedelta(days=1)))
        kept.add(history.job(JobKey(subscription, "rg", f"shipped-{number}"), JobState.SHIPPING, OLD))
    return expired, kept


def damage(storage, rows) -> None:
    for partition, entity in rows:
        storage.table.upsert_entity({"PartitionKey": partition, **entity})


@pytest.mark.parametrize("name", DAMAGES)
def test_every_expired_job_outside_the_damaged_rows_still_goes(storage, jobs_on_both_sides, name, caplog):
    # given expired and live jobs in three subscriptions, and rows the purge cannot read among their index and directory
    expired, kept = jobs_on_both_sides
    damage(storage, DAMAGES[name])
    # when the purge runs
    with caplog.at_level(logging.ERROR, logger="importexport.purge"):
        report = purge_at(storage, NOW)
    # then every expired job went, in every subscription, and nothing else
    assert surviving(storage, expired | kept) == kept
    # and each damaged row was skipped, counted and logged with its keys
    assert len(report.skipped) == len(DAMAGES[name])
    for partition, entity in DAMAGES[name]:
        assert any(partition in line and entity["RowKey"] in line for line in caplog.messages), caplog.messages
    assert "skipped" in report.summary()


def test_the_next_run_still_reports_the_damage_until_it_is_fixed(storage, jobs_on_both_sides):
    damage(storage, DAMAGES["an index row without its columns"])
    purge_at(storage, NOW, directory_settle=timedelta(0))
    # the day holding the damaged row stays listed, so the damage is not forgotten (nor acted on)
    assert len(purge_at(storage, NOW, directory_settle=timedelta(0)).skipped) == 1


def test_the_command_exits_3_after_purging_the_rest(azurite, storage, jobs_on_both_sides):
    # given damaged rows among expired jobs
    expired, kept = jobs_on_both_sides
    damage(storage, DAMAGES["all of them at once"])
    # when the command runs
    result = run_cli([], storage.table.table_name, azurite)
    # then it purged the rest, said what it skipped, and exits 3: done, but rows for someone to look at
    assert result.returncode == 3, result.stderr
    assert surviving(storage, expired | kept) == kept
    assert "Traceback" not in result.stderr
    assert f"skipped {len(DAMAGES['all of them at once'])} rows it could not read" in result.stdout
