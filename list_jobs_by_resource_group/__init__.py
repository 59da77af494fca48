"""GET the jobs of one resource group, a page at a time ($filter, $top, nextLink)."""

import azure.functions as func

from shared.app import endpoint, listing
from shared.domain.access import Action, Caller


@endpoint(Action.JOBS_READ)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    # The service lists a resource group's jobs without their drives (its subscription listing shows them).
    return listing(req, drives=False)
