"""GET the operations the Microsoft.ImportExport provider offers, as ARM lists a provider's operations."""

import azure.functions as func

from shared.api.http import json_response
from shared.api.operations import operations_body
from shared.app import endpoint
from shared.domain.access import Caller


@endpoint(None)
def main(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return json_response(operations_body())
