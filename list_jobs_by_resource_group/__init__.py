"""GET the jobs of one resource group, a page at a time ($filter, $top, nextLink)."""

import azure.functions as func

from shared.api.http import list_query, list_response
from shared.app import current_app, endpoint
from shared.domain.access import Action, Caller


@endpoint(Action.JOBS_READ)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    query = list_query(req)
    app = current_app()
    page = app.jobs.list_jobs(query.scope, query.top, query.skip_token, job_filter=query.job_filter)
    # The service lists a resource group's jobs without their drives (its subscription listing shows them).
    return list_response(
        req,
        page.jobs,
        page.next_skip_token,
        locations=app.locations,
        drives=False,
        trust_forwarded=app.settings.trust_forwarded_headers,
    )
