"""Every path no other function's route takes (any method): 404 with an ARM error body.

The host tries this route last (a catch-all comes after literal and parameter segments), and a route whose methods
do not include the request's does not match, so a wrong method on a known path lands here too, as on Azure.
"""

import azure.functions as func

from shared.api.http import not_found_response


def main(req: func.HttpRequest) -> func.HttpResponse:
    return not_found_response(req)
