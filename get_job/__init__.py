"""GET a job (404 ResourceNotFound when absent or deleted)."""

import azure.functions as func

from shared.api.http import job_key, job_response
from shared.app import current_app, endpoint
from shared.domain.access import Action, Caller


@endpoint(Action.JOBS_READ)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    key = job_key(req)
    app = current_app()
    return job_response(req, app.jobs.get_job(key), locations=app.locations)
