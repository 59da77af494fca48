"""DELETE a job in Creating or Completed (200 whether deleted or already absent, 409 in any other state)."""

import azure.functions as func

from shared.http import arm_endpoint, empty_response, job_key, preconditions
from shared.jobs import get_service


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    key = job_key(req)
    # 200 either way: the specification declares only 200, and the official clients raise on a 204, so a retried
    # delete would fail.
    get_service().delete_job(key, preconditions(req))
    return empty_response(200)
