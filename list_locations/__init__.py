"""GET the locations (the operator's datacenters) where the service takes jobs and customers ship drives."""

import azure.functions as func

from shared.http import arm_endpoint, check_api_version, json_response
from shared.settings import load_settings


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(load_settings().locations.to_arm(check_api_version(req)))
