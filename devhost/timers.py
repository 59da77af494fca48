"""Fires timer functions on their NCRONTAB schedules (six fields, seconds first, UTC), as the Functions host does."""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from azure.functions.timer import TimerRequest
from croniter import CroniterBadDateError, croniter

from .functions import Function

log = logging.getLogger("devhost.timers")
_SETTING = re.compile(r"^%([^%]+)%$")
# A run that starts this much after its scheduled time is "past due", as the host reports it.
LATE_AFTER_SECONDS = 1.0
# The host's TimerInfo as the worker hands it to a function: the schedule's one public property for NCRONTAB
# schedules, and the host's time before a timer's first run (DateTime.MinValue, as Json.NET writes it).
SCHEDULE = {"AdjustForDST": True}
NEVER = "0001-01-01T00:00:00"
# The host monitors a schedule (keeps Last/Next/LastUpdated) unless function.json says otherwise or it fires more
# often than once a minute.
MONITOR_FROM_SECONDS = 60


@dataclass(frozen=True)
class ScheduleStatus:
    """The host's record of a monitored timer: the time it last ran, the occurrence it runs next, when it wrote this.

    As in the host, at an invocation `next` is the occurrence being run (the record is written after each run)."""

    last: datetime | None
    next: datetime
    last_updated: datetime | None

    def as_json(self) -> dict[str, str]:
        """The record in the JSON the host sends, which the worker hands to the function as it is (strings)."""
        return {"Last": _host_time(self.last), "Next": _host_time(self.next), "LastUpdated": _host_time(self.last_updated)}


def _host_time(moment: datetime | None) -> str:
    return NEVER if moment is None else moment.isoformat()


def timer_request(*, past_due: bool, status: ScheduleStatus | None = None) -> TimerRequest:
    """The argument a timer function is called with: the host's TimerInfo as the worker binds it (an unmonitored
    timer, or one run from the admin endpoint before any record exists, has an empty `schedule_status`)."""
    return TimerRequest(past_due=past_due, schedule=dict(SCHEDULE), schedule_status=status.as_json() if status else None)


def resolve_schedule(function: Function) -> str:
    """The trigger's schedule, with `%SETTING%` read from the environment (app settings)."""
    schedule: str = function.trigger["schedule"]
    setting = _SETTING.match(schedule)
    if setting:
        schedule = os.environ.get(setting.group(1), "")
        if not schedule:
            raise ValueError(f"{function.name}: the app setting {setting.group(1)} (its schedule) is not set")
    if len(schedule.split()) != 6:
        raise ValueError(f"{function.name}: {schedule!r} is not a six-field NCRONTAB schedule (seconds first)")
    if not croniter.is_valid(schedule, second_at_beginning=True):
        raise ValueError(f"{function.name}: {schedule!r} is not a valid NCRONTAB schedule")
    try:
        # Valid field by field yet never due ("0 0 0 31 2 *"): found here, not as a timer thread's traceback.
        croniter(schedule, datetime.now(timezone.utc), second_at_beginning=True).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"{function.name}: {schedule!r} never fires (no date matches it)") from None
    return schedule


@dataclass(frozen=True)
class _Timer:
    function: Function
    schedule: str
    monitored: bool


class TimerScheduler:
    def __init__(self, functions: list[Function]) -> None:
        self._timers: list[_Timer] = []
        for function in functions:
            try:
                schedule = resolve_schedule(function)
                self._timers.append(_Timer(function, schedule, uses_monitor(function, schedule)))
            except ValueError as error:
                # As the Functions host does: the function is reported and left out, the others run.
                log.error("timer not scheduled: %s", error)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def scheduled(self) -> list[str]:
        """The names of the timer functions it runs: those whose schedule resolved (the others were logged and left out)."""
        return [timer.function.name for timer in self._timers]

    def start(self) -> None:
        for timer in self._timers:
            thread = threading.Thread(target=self._run, args=(timer,), name=f"timer-{timer.function.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
            log.info("%s fires on %r (UTC)", timer.function.name, timer.schedule)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self, timer: _Timer) -> None:
        function, schedule = timer.function, timer.schedule
        # runOnStartup is not honoured on purpose: Azure advises against it, and this app sets it false.
        # The record lives in memory: unlike the host's (in storage), it starts afresh, so no start is past due.
        due = croniter(schedule, datetime.now(timezone.utc), second_at_beginning=True).get_next(datetime)
        status = ScheduleStatus(last=None, next=due, last_updated=None)
        while not self._stop.is_set():
            wait = (due - datetime.now(timezone.utc)).total_seconds()
            if wait > 0 and self._stop.wait(wait):
                return
            fired_at = max(due, datetime.now(timezone.utc))
            past_due = (fired_at - due).total_seconds() > LATE_AFTER_SECONDS
            try:
                function.invoke(timer_request(past_due=past_due, status=status if timer.monitored else None))
            except Exception:  # the host's boundary: a failed run is logged and the schedule goes on
                log.exception("timer function %s failed", function.name)
            # A run that overran skips the occurrences it missed, like the host's singleton timer.
            times = croniter(schedule, max(due, datetime.now(timezone.utc)), second_at_beginning=True)
            due = times.get_next(datetime)
            status = ScheduleStatus(last=fired_at, next=due, last_updated=fired_at)


def uses_monitor(function: Function, schedule: str) -> bool:
    """Whether the host keeps a schedule status for the timer: `useMonitor` when function.json sets it, else whether
    it fires at most once a minute."""
    setting = function.trigger.get("useMonitor")
    if isinstance(setting, bool):
        return setting
    if isinstance(setting, str) and setting.lower() in ("true", "false"):
        return setting.lower() == "true"
    if setting is not None:
        raise ValueError(f"{function.name}: useMonitor is {setting!r}; it takes true or false")
    times = croniter(schedule, datetime.now(timezone.utc), second_at_beginning=True)
    first = times.get_next(datetime)
    return (times.get_next(datetime) - first).total_seconds() >= MONITOR_FROM_SECONDS
