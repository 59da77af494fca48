"""Timer: the retention purge (rule 6 of docs/contract.md), on the schedule in the IMPORTEXPORT_PURGE_SCHEDULE setting."""

import logging

import azure.functions as func
from azure.core.exceptions import AzureError

from shared.app import current_app
from shared.ops.commands import storage_failure
from shared.settings import SettingsError

log = logging.getLogger("importexport.purge")


def main(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.warning("purge is past due; this run also deletes what expired while it was late")
    try:
        report = current_app().purge().run()
    except SettingsError as error:
        log.error("purge not run: the app settings are not usable: %s", error)
        return
    except AzureError as error:
        # One line, not a stack trace: what it deleted is gone, and the next run continues from the index.
        log.error("purge stopped: %s; the next run continues", storage_failure(error))
        return
    # Rows it could not read were logged one by one; the summary then says so at the same level.
    (log.error if report.problems() else log.info)(report.summary())
