"""POST an operator's state move (the datacenter side: Received, Transferring, ...); admin key only."""

import azure.functions as func

from shared.http import arm_endpoint, job_key, job_response, read_body
from shared.jobs import get_service
from shared.models import OperatorMoveRequest


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    key = job_key(req)
    request = read_body(req, OperatorMoveRequest)
    return job_response(req, get_service().move_job(key, request.state, request.at))
