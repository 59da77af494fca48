"""Timer: the retention purge (rule 6 of docs/contract.md), on the schedule in the IMPORTEXPORT_PURGE_SCHEDULE setting."""

import logging

import azure.functions as func

from shared.app import current_app
from shared.ops.commands import run_on_timer

log = logging.getLogger("importexport.purge")


def main(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.warning("purge is past due; this run also deletes what expired while it was late")
    report = run_on_timer("purge", lambda: current_app().purge().run(), log=log)
    if report is not None:
        # Rows it could not read were logged one by one; the summary then says so at the same level.
        (log.error if report.problems() else log.info)(report.summary())
