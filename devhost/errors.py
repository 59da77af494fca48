"""The errors the dev host answers itself (no route, wrong method, no key, unreadable request, a failed function).

Each is an ARM error body, `{"error": {"code", "message"}}` in JSON, as the Functions host's proxies answer
on Azure, so a client that reads ARM errors reads these too; never an HTML page or a stack trace.
"""

from __future__ import annotations

import json

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# Spelled out rather than taken from http.HTTPStatus, whose phrases change between Python versions (413).
_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    404: "NotFound",
    405: "MethodNotAllowed",
    408: "RequestTimeout",
    413: "RequestEntityTooLarge",
    431: "RequestHeaderFieldsTooLarge",
    500: "InternalServerError",
}


def error_body(status: int, message: str) -> bytes:
    # Compact, as the app writes its own errors.
    error = {"error": {"code": _CODES.get(status, "Error"), "message": message}}
    return json.dumps(error, separators=(",", ":")).encode()
