"""GET a job (404 ResourceNotFound when absent or deleted)."""

import azure.functions as func

from shared.api.http import arm_endpoint, job_key, job_response
from shared.app import current_app


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    key = job_key(req)
    return job_response(req, current_app().jobs.get_job(key))
