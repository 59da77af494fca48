"""GET the locations (the operator's datacenters) where the service takes jobs and customers ship drives."""

import azure.functions as func

from shared.api.http import check_api_version, json_response
from shared.api.rendering import locations_body
from shared.app import current_app, endpoint
from shared.domain.access import Action, Caller


@endpoint(Action.LOCATIONS_READ)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return json_response(locations_body(current_app().locations, check_api_version(req)))
