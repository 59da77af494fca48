"""PATCH a job (Update Job Properties): request its cancellation, mark it shipped, or edit it.

The API has one operation for all three, so this one function serves every PATCH of a job. The folder keeps
the name `cancel_job`, which the app's layout promises, after the use the service's documentation gives it.
"""

import azure.functions as func

from shared.api.bodies import read_body
from shared.api.http import job_key, job_response, preconditions
from shared.app import current_app, endpoint
from shared.domain.access import Action, Caller
from shared.domain.requests import JobUpdateRequest


@endpoint(Action.JOBS_WRITE)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    key = job_key(req)
    request = read_body(req, JobUpdateRequest)
    app = current_app()
    return job_response(req, app.jobs.update_job(key, request, preconditions(req), by=caller), locations=app.locations)
