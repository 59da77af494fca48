"""Timer: the retention purge (rule 6), on the schedule in the IMPORTEXPORT_PURGE_SCHEDULE setting."""

import logging

import azure.functions as func

from shared.purge import purge_from_settings

log = logging.getLogger("importexport.purge")


def main(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.warning("purge is past due; this run also deletes what expired while it was late")
    report = purge_from_settings()
    log.info(report.summary())
