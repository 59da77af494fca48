"""Timer: completes the cancels recorded in Creating (rule 3 of docs/contract.md), every 10 seconds; no setting."""

import logging

import azure.functions as func
from azure.core.exceptions import AzureError

from shared.app import current_app
from shared.ops.commands import storage_failure
from shared.settings import SettingsError

log = logging.getLogger("importexport.cancels")


def main(timer: func.TimerRequest) -> None:
    try:
        report = current_app().cancel_completions(on_job=lambda resource_id: log.info("cancel completed: %s", resource_id)).run()
    except SettingsError as error:
        log.error("cancels not completed: the app settings are not usable: %s", error)
        return
    except AzureError as error:
        # One line, not a stack trace: the pending cancels stay in the index, and the next run completes them.
        log.error("cancel completion stopped: %s; the next run continues", storage_failure(error))
        return
    if report.problems():  # the rows it could not read were logged one by one
        log.error(report.summary())
    elif report.completed or not report.complete:
        log.info(report.summary())
