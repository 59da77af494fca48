"""GET one location by its region name or display name, in any case (404 LocationNotFound when there is none)."""

import azure.functions as func

from shared.http import arm_endpoint, check_api_version, json_response
from shared.settings import load_settings


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    location = load_settings().locations.get(req.route_params.get("locationName", ""))
    return json_response(location.to_arm(check_api_version(req)))
