"""POST an operator's state move (the datacenter side: Received, Transferring, ...); admin key only."""

import azure.functions as func

from shared.api.bodies import read_body
from shared.api.http import arm_endpoint, job_key, job_response
from shared.app import current_app
from shared.domain.requests import OperatorMoveRequest


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    key = job_key(req)
    request = read_body(req, OperatorMoveRequest)
    return job_response(req, current_app().jobs.move_job(key, request.state, request.at))
