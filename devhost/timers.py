"""Fires timer functions on their NCRONTAB schedules (six fields, seconds first, UTC), as the Functions host does."""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import datetime, timezone

from azure.functions.timer import TimerRequest
from croniter import CroniterBadDateError, croniter

from .functions import Function

log = logging.getLogger("devhost.timers")
_SETTING = re.compile(r"^%([^%]+)%$")
# A run that starts this much after its scheduled time is "past due", as the host reports it.
LATE_AFTER_SECONDS = 1.0


def timer_request(past_due: bool) -> TimerRequest:
    """The argument a timer function is called with."""
    return TimerRequest(past_due=past_due)


def resolve_schedule(function: Function) -> str:
    """The trigger's schedule, with `%SETTING%` read from the environment (app settings)."""
    schedule = function.trigger["schedule"]
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


class TimerScheduler:
    def __init__(self, functions: list[Function]) -> None:
        self._timers = []
        for function in functions:
            try:
                self._timers.append((function, resolve_schedule(function)))
            except ValueError as error:
                # As the Functions host does: the function is reported and left out, the others run.
                log.error("timer not scheduled: %s", error)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def scheduled(self) -> list[str]:
        """The names of the timer functions it runs: those whose schedule resolved (the others were logged and left out)."""
        return [function.name for function, _ in self._timers]

    def start(self) -> None:
        for function, schedule in self._timers:
            thread = threading.Thread(target=self._run, args=(function, schedule), name=f"timer-{function.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
            log.info("%s fires on %r (UTC)", function.name, schedule)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self, function: Function, schedule: str) -> None:
        # runOnStartup is not honoured on purpose: Azure advises against it, and this app sets it false.
        times = croniter(schedule, datetime.now(timezone.utc), second_at_beginning=True)
        due = times.get_next(datetime)
        while not self._stop.is_set():
            wait = (due - datetime.now(timezone.utc)).total_seconds()
            if wait > 0 and self._stop.wait(wait):
                return
            lateness = (datetime.now(timezone.utc) - due).total_seconds()
            try:
                function.invoke(timer_request(past_due=lateness > LATE_AFTER_SECONDS))
            except Exception:  # the host's boundary: a failed run is logged and the schedule goes on
                log.exception("timer function %s failed", function.name)
            # A run that overran skips the occurrences it missed, like the host's singleton timer.
            times = croniter(schedule, max(due, datetime.now(timezone.utc)), second_at_beginning=True)
            due = times.get_next(datetime)
