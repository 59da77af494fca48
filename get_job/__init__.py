"""GET a job (404 ResourceNotFound when absent or deleted)."""

import azure.functions as func

from shared.http import arm_endpoint, job_key, job_response
from shared.jobs import get_service


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    key = job_key(req)
    return job_response(req, get_service().get_job(key))
