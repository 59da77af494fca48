"""GET the operations the Microsoft.ImportExport provider offers, as ARM lists a provider's operations."""

import azure.functions as func

from shared.api.http import arm_endpoint, json_response
from shared.api.operations import operations_body


@arm_endpoint
def main(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(operations_body())
