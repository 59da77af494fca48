"""PATCH a job (Update Job Properties): request its cancellation, mark it shipped, or edit it.

The API has one operation for all three, so this one function serves every PATCH of a job. The folder keeps
the name `cancel_job`, which the app's layout promises, after the use the service's documentation gives it.
"""

import azure.functions as func

from shared.http import arm_endpoint, job_key, job_response, preconditions, read_body
from shared.jobs import get_service
from shared.models import JobUpdateRequest


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    key = job_key(req)
    request = read_body(req, JobUpdateRequest)
    return job_response(req, get_service().update_job(key, request, preconditions(req)))
