"""DELETE a job in Creating or Completed (200 deleted, 204 absent, 409 in any other state)."""

import azure.functions as func

from shared.http import arm_endpoint, empty_response, job_key, preconditions
from shared.jobs import get_service


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    key = job_key(req)
    deleted = get_service().delete_job(key, preconditions(req))
    return empty_response(200 if deleted else 204)
