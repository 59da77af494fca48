"""PUT a job: Create Job, or replace one that is still in Creating (201 new, 200 replaced)."""

import azure.functions as func

from shared.api.bodies import read_body
from shared.api.http import job_key, job_response, preconditions
from shared.app import current_app, endpoint
from shared.domain.access import Action, Caller
from shared.domain.requests import JobCreateRequest


@endpoint(Action.JOBS_WRITE)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    key = job_key(req)
    request = read_body(req, JobCreateRequest)
    result = current_app().jobs.create_job(key, request, preconditions(req), by=caller)
    return job_response(req, result.stored, 201 if result.created else 200)
