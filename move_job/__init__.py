"""POST an operator's state move (the datacenter side: Received, Transferring, ...); admin key only."""

import azure.functions as func

from shared.api.bodies import read_body
from shared.api.http import job_key, job_response
from shared.app import current_app, endpoint
from shared.domain.access import Action, Caller
from shared.domain.requests import OperatorMoveRequest


@endpoint(Action.MOVE_JOB_STATE)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    key = job_key(req)
    request = read_body(req, OperatorMoveRequest)
    app = current_app()
    return job_response(req, app.jobs.move_job(key, request.state, request.at, by=caller), locations=app.locations)
