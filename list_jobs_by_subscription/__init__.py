"""GET the jobs of a subscription, across its resource groups, a page at a time ($filter, $top, nextLink)."""

import azure.functions as func

from shared.app import endpoint, listing
from shared.domain.access import Action, Caller


@endpoint(Action.JOBS_READ)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return listing(req, drives=True)
