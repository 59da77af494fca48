"""GET the jobs of a subscription, across its resource groups, a page at a time ($filter, $top, nextLink)."""

import azure.functions as func

from shared.http import arm_endpoint, list_query, list_response
from shared.jobs import get_service


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    query = list_query(req)
    jobs, next_token = get_service().list_jobs(query.scope, query.top, query.skip_token, job_filter=query.job_filter)
    return list_response(req, jobs, next_token)
