"""GET the locations (the operator's datacenters) where the service takes jobs and customers ship drives."""

import azure.functions as func

from shared.api.http import arm_endpoint, check_api_version, json_response
from shared.api.rendering import locations_body
from shared.app import current_app


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(locations_body(current_app().locations, check_api_version(req)))
