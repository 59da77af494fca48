"""GET one location by its region name or display name, in any case (404 LocationNotFound when there is none)."""

import azure.functions as func

from shared.api.http import check_api_version, json_response
from shared.api.rendering import location_resource
from shared.app import current_app, endpoint
from shared.domain.access import Action, Caller


@endpoint(Action.LOCATIONS_READ)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    location = current_app().locations.get(req.route_params.get("locationName", ""))
    return json_response(location_resource(location, check_api_version(req)))
