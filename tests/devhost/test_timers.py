"""Timer functions: fired on their NCRONTAB schedules (from an app setting), handed the host's schedule status when
monitored, and left out, with a log line, when their schedule or useMonitor cannot be read."""

from __future__ import annotations

import importlib
import json
import sys
import time
import uuid
from datetime import datetime, timedelta

import pytest
import requests

from devhost.functions import load_app
from devhost.timers import TimerScheduler, resolve_schedule, uses_monitor
from scripts.devhost_process import DevHostProcess


def timer_app(tmp_path, schedule: str, **trigger) -> tuple[str, "object"]:
    """An app with one timer function that keeps each run's TimerRequest in its module's `runs`."""
    package = f"tick_{uuid.uuid4().hex[:8]}"
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    (tmp_path / package).mkdir()
    binding = {"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": schedule, **trigger}
    (tmp_path / package / "function.json").write_text(json.dumps({"bindings": [binding]}))
    (tmp_path / package / "__init__.py").write_text("runs = []\n\ndef main(timer):\n    runs.append(timer)\n")
    sys.path.insert(0, str(tmp_path))
    return package, load_app(tmp_path)


def runs_of(scheduler: TimerScheduler, package: str, app_folder, seconds: float = 2.5) -> list:
    """Runs the scheduler for `seconds`, then gives the TimerRequests `timer_app`'s function was called with."""
    scheduler.start()
    try:
        time.sleep(seconds)
    finally:
        scheduler.stop()
        sys.path.remove(str(app_folder))
    return importlib.import_module(package).runs


@pytest.mark.slow
def test_timer_functions_fire_on_their_ncrontab_schedule_from_an_app_setting(tmp_path, monkeypatch):
    # given a timer whose six-field schedule (every second) comes from an app setting
    monkeypatch.setenv("TICK_SCHEDULE", "* * * * * *")
    package, app = timer_app(tmp_path, "%TICK_SCHEDULE%")
    scheduler = TimerScheduler(list(app.functions.values()))
    assert scheduler.scheduled == [package]
    # when the scheduler runs for a little over two seconds
    runs = runs_of(scheduler, package, tmp_path)
    # then the function ran on the second ticks, on time
    assert 2 <= len(runs) <= 3
    assert runs[0].past_due is False


@pytest.mark.slow
def test_a_monitored_timer_is_handed_the_hosts_schedule_status_run_after_run(tmp_path):
    # given a timer that fires every second and asks to be monitored
    package, app = timer_app(tmp_path, "* * * * * *", useMonitor=True)
    # when the scheduler runs for a little over two seconds
    first, second = runs_of(TimerScheduler(list(app.functions.values())), package, tmp_path)[:2]
    # then the first run has no last run yet, and Next is the occurrence being run
    assert first.schedule == {"AdjustForDST": True}
    assert first.schedule_status["Last"] == first.schedule_status["LastUpdated"] == "0001-01-01T00:00:00"
    first_due = datetime.fromisoformat(first.schedule_status["Next"])
    assert first_due.microsecond == 0 and first_due.utcoffset() == timedelta(0)
    # and the second has the first's run as Last and its own occurrence, a second later, as Next
    assert datetime.fromisoformat(second.schedule_status["Last"]) >= first_due
    assert second.schedule_status["LastUpdated"] == second.schedule_status["Last"]
    assert datetime.fromisoformat(second.schedule_status["Next"]) == first_due + timedelta(seconds=1)


@pytest.mark.parametrize(
    "schedule,trigger,monitored",
    [
        ("0 0 * * * *", {}, True),
        ("0 * * * * *", {}, True),
        ("*/30 * * * * *", {}, False),
        ("0 0 * * * *", {"useMonitor": False}, False),
        ("* * * * * *", {"useMonitor": "true"}, True),
    ],
)
def test_a_timer_is_monitored_unless_it_says_not_or_fires_more_than_once_a_minute(tmp_path, schedule, trigger, monitored):
    # given a timer function with this schedule and function.json
    _, app = timer_app(tmp_path, schedule, **trigger)
    sys.path.remove(str(tmp_path))
    [function] = app.functions.values()
    # then the host would keep a schedule status for it exactly when the rule says
    assert uses_monitor(function, schedule) is monitored


@pytest.mark.parametrize("setting", ["yes", 1, "on", [True]])
def test_a_use_monitor_that_is_not_true_or_false_leaves_the_timer_out(tmp_path, setting, caplog):
    # given a timer whose function.json says useMonitor is neither true nor false
    package, app = timer_app(tmp_path, "0 0 * * * *", useMonitor=setting)
    sys.path.remove(str(tmp_path))
    # when the scheduler reads it, then the timer is reported and left out, as one with a bad schedule
    assert TimerScheduler(list(app.functions.values())).scheduled == []
    assert f"timer not scheduled: {package}: useMonitor is {setting!r}; it takes true or false" in caplog.text


@pytest.mark.parametrize("schedule", ["%MISSING_SCHEDULE%", "0 * * * *", "61 * * * * *", "0 0 0 31 2 *"])
def test_bad_or_missing_schedules_leave_the_timer_out(tmp_path, schedule, caplog):
    # "0 0 0 31 2 *" is valid field by field but never fires (no February 31st)
    _, app = timer_app(tmp_path, schedule)
    sys.path.remove(str(tmp_path))
    [function] = app.functions.values()
    with pytest.raises(ValueError):
        resolve_schedule(function)
    assert TimerScheduler([function]).scheduled == []


@pytest.mark.parametrize("schedule", ["every minute", "0 0 0 31 2 *"])
def test_an_invalid_schedule_setting_is_logged_and_the_host_still_serves(tmp_path, schedule):
    # given a timer whose schedule setting holds no schedule, or one that never fires
    package, _ = timer_app(tmp_path, "%TICK_SCHEDULE%")
    sys.path.remove(str(tmp_path))
    host = DevHostProcess(root=tmp_path, environment={"TICK_SCHEDULE": schedule}, capture_output=True)
    # when it starts
    with host:
        answer = requests.get(f"http://127.0.0.1:{host.port}/nothing", timeout=10)
    # then the timer is reported and left out, and the rest is served
    assert f"timer not scheduled: {package}" in host.output
    assert "Traceback" not in host.output
    assert answer.status_code == 404
