"""DELETE a job in Creating or Completed (200 whether deleted or already absent, 409 in any other state)."""

import azure.functions as func

from shared.api.http import empty_response, job_key, preconditions
from shared.app import current_app, endpoint
from shared.domain.access import Action, Caller


@endpoint(Action.JOBS_DELETE)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    key = job_key(req)
    # 200 either way: the specification declares only 200, and the official clients raise on a 204, so a retried
    # delete would fail.
    current_app().jobs.delete_job(key, preconditions(req))
    return empty_response(200)
