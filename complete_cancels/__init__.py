"""Timer: completes the cancels recorded in Creating (rule 3 of docs/contract.md), every 10 seconds; no setting."""

import logging

import azure.functions as func

from shared.app import current_app
from shared.ops.commands import run_on_timer

log = logging.getLogger("importexport.cancels")


def main(timer: func.TimerRequest) -> None:
    on_job = lambda resource_id: log.info("cancel completed: %s", resource_id)
    report = run_on_timer("cancel completion", lambda: current_app().cancel_completions(on_job=on_job).run(), log=log)
    if report is None:
        return
    if report.problems():  # the rows it could not read were logged one by one
        log.error(report.summary())
    elif report.completed or not report.complete:  # quiet every 10 s when there is nothing to say
        log.info(report.summary())
