"""PUT a job: Create Job, or replace one that is still in Creating (201 new, 200 replaced)."""

import azure.functions as func

from shared.http import arm_endpoint, job_key, job_response, preconditions, read_body
from shared.jobs import get_service
from shared.models import JobCreateRequest


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    key = job_key(req)
    request = read_body(req, JobCreateRequest)
    stored, created = get_service().create_job(key, request, preconditions(req))
    return job_response(req, stored, 201 if created else 200)
