"""Answers one HTTP request as the Functions host would: finds the function its route names, checks the key its
auth level needs, calls it with a `func.HttpRequest`, and hands back what it answered.

The server in `server.py` reads the request off the wire (framing, chunked bodies, limits, timeouts) and hands it
over complete; this module never sees bytes on a socket. `POST /admin/functions/{name}` runs a timer function now,
as the host does.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func

from .config import Keys
from .easy_auth import EasyAuth, Refused
from .errors import JSON_CONTENT_TYPE, error_body
from .functions import FunctionApp
from .principal import without_platform_headers
from .timers import timer_request

log = logging.getLogger("devhost")
# host[:port] as RFC 3986 allows it in a Host header: a name or IPv4 address, or an IPv6 address in brackets.
_AUTHORITY = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::[0-9]*)?")
# Headers that describe one hop's connection: the server writes its own.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def error(cls, status: int, message: str, headers: list[tuple[str, str]] | None = None) -> "Answer":
        return cls(status, error_body(status, message), [("Content-Type", JSON_CONTENT_TYPE), *(headers or [])])


@dataclass
class IncomingRequest:
    """A request as read off the wire."""

    method: str
    target: str  # as sent: path and query, still percent-encoded (route values are decoded once, after matching)
    headers: dict[str, str]  # names in lower case; a repeated header's values joined with ","
    body: bytes
    # host:port the client connected to (the accepted socket's own address), for a request without a Host header
    served_at: str = ""
    path: str = field(init=False)
    query: str = field(init=False)

    def __post_init__(self) -> None:
        self.path, self.query = split_target(self.target)

    @property
    def params(self) -> dict[str, str]:
        return query_parameters(self.query)


def query_parameters(query: str) -> dict[str, str]:
    """The query as the Functions host hands it to a Python function (`req.params`): names compare
    case-insensitively, the first spelling kept (ASP.NET's query collection), a repeated name's values are
    joined with "," (StringValues.ToString()), and a name whose value is empty is left out (the host sends the
    Python worker only non-empty values). The full query, blank values included, stays in `req.url`."""
    values: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(spelling.setdefault(name.lower(), name), []).append(value)
    joined = {name: ",".join(each) for name, each in values.items()}
    return {name: value for name, value in joined.items() if value}


def split_target(target: str) -> tuple[str, str]:
    """The path and query of a request target as the client sent it (origin-form `/a?b`, or absolute-form)."""
    target = target.partition("#")[0]
    if not target.startswith("/"):
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    # "//x" is "/x": a leading "//" would otherwise read as a host name.
    return "/" + path.lstrip("/"), query


def content_type(response: func.HttpResponse) -> str:
    """The Content-Type the Python worker gives a response that sets none: its mimetype (text/plain unless given),
    with the charset only for a text/ type, and even when the body is empty (204 included)."""
    mimetype = response.mimetype or "text/plain"
    return f"{mimetype}; charset={response.charset or 'utf-8'}" if mimetype.startswith("text/") else mimetype


class Dispatcher:
    """Serves a function app's HTTP functions and admin endpoint, one request at a time per caller (thread-safe).

    `scheme` is how clients reach it (the URL a function is given); with `auth`, Easy Auth stands in front of the HTTP
    functions as on Azure: a request without a valid bearer token is answered 401 here and never reaches one."""

    def __init__(self, app: FunctionApp, keys: Keys, *, scheme: str = "http", auth: EasyAuth | None = None) -> None:
        self.app = app
        self.keys = keys
        self.scheme = scheme
        self.auth = auth

    def __call__(self, request: IncomingRequest) -> Answer:
        started = time.perf_counter()
        answer = self.answer(request)
        log.info("%s %s -> %s in %.1f ms", request.method, request.path, answer.status, (time.perf_counter() - started) * 1000)
        return answer

    def answer(self, request: IncomingRequest) -> Answer:
        # Only Easy Auth sets its headers: one a client sent never reaches a function, whether Easy Auth is on or
        # off (off, nothing else would stop a client from naming any caller it likes to an app that trusts them).
        request = replace(request, headers=without_platform_headers(request.headers))
        params = request.params
        code = next((value for name, value in params.items() if name.lower() == "code"), None)
        presented_key = request.headers.get("x-functions-key") or code
        if request.path.lower().startswith("/admin/"):
            # Left to the master key alone: Easy Auth guards /admin on Azure unless excluded, but the dev host's admin
            # endpoint runs timers by hand, which no bearer token's caller should need for local work.
            return self._admin(request, presented_key)
        if self.auth is not None:
            # In front of routing, as Easy Auth is in front of the Functions host: every route, anonymous ones too,
            # and a path no function serves, is refused without a valid token (keys are checked after, as on Azure).
            outcome = self.auth.authenticate(request.headers)
            if isinstance(outcome, Refused):
                return self._unauthenticated(request, outcome)
            request = replace(request, headers={**request.headers, **outcome.headers})
        return self._http_function(request, params, presented_key)

    def _unauthenticated(self, request: IncomingRequest, refused: Refused) -> Answer:
        """Easy Auth's 401, with the RFC 6750 challenge: `error="invalid_token"` only when a token was sent."""
        assert self.auth is not None
        host = request.headers.get("host") or ""
        realm = re.sub(r":[0-9]*$", "", host if _AUTHORITY.fullmatch(host) else request.served_at)
        challenge = f'Bearer realm="{realm}"'
        if refused.rejection is None:
            message = f"This host needs a bearer token (Authorization: Bearer ...) issued by {self.auth.issuer}."
        else:
            challenge += ', error="invalid_token"'
            message = f"The bearer token is refused: {refused.rejection}."
            log.info("bearer token refused (%s): %s", type(refused.rejection).__name__, refused.rejection)
        return Answer.error(401, message, [("WWW-Authenticate", challenge)])

    def _http_function(self, request: IncomingRequest, params: dict[str, str], presented_key: str | None) -> Answer:
        found = self.app.match(request.method, request.path)
        function, raw_route = found.function, found.route_values
        if function is None and found.path_known:
            # The Functions host answers 404, not 405, when a route matches the path but not the method: a route's
            # methods are part of whether it matches at all.
            allowed = ", ".join(sorted(method.upper() for method in self.app.methods_at(request.path)))
            return Answer.error(
                404, f"No function's route takes {request.method} {request.path}; the route there takes {allowed}."
            )
        if function is None:
            return Answer.error(404, f"No function's route matches {request.path}.")
        if not self.keys.allows(function.auth_level, presented_key):
            return Answer.error(
                401,
                f"This route needs a {'master' if function.auth_level == 'admin' else 'function'} key "
                "(x-functions-key header or code query parameter).",
            )
        # The URL the client called, as the Functions host builds it: scheme, Host header, path and query as sent.
        # Without one (HTTP/1.0, an empty Host), the address the client reached: a host bound to 0.0.0.0 must not
        # hand the app a URL (and so a nextLink) that names no host the client can call.
        host = request.headers.get("host") or request.served_at
        if not _AUTHORITY.fullmatch(host):
            return Answer.error(400, "The Host header is not a host name or address with an optional port.")
        http_request = func.HttpRequest(
            method=request.method,
            url=f"{self.scheme}://{host}{request.path}" + (f"?{request.query}" if request.query else ""),
            headers=request.headers,
            params=params,
            route_params={name: unquote(value) for name, value in raw_route.items()},
            body=request.body,
        )
        try:
            response = function.invoke(http_request)
        except Exception:  # the host's boundary: an app's unhandled error is a 500, as in Azure, its trace only in the log
            log.exception("function %s failed", function.name)
            return Answer.error(500, f"The function {function.name} failed; the dev host's log has the details.")
        return self._from_function(response)

    @staticmethod
    def _from_function(response: func.HttpResponse) -> Answer:
        headers = [(key, str(value)) for key, value in response.headers.items() if key.lower() not in _HOP_BY_HOP]
        body = response.get_body() or b""
        if not any(key.lower() == "content-type" for key, _ in headers):
            headers.append(("Content-Type", content_type(response)))
        return Answer(response.status_code, body, headers)

    def _admin(self, request: IncomingRequest, presented_key: str | None) -> Answer:
        """`POST /admin/functions/{name}` runs a non-HTTP function now, as the Functions host does."""
        if not self.keys.allows("admin", presented_key):
            return Answer.error(401, "The admin endpoints need the master key (x-functions-key header or code query parameter).")
        parts = request.path.strip("/").split("/")
        if len(parts) != 3 or parts[1].lower() != "functions":
            return Answer.error(
                404, f"No admin endpoint {request.method} {request.path}; this dev host has POST /admin/functions/{{name}}."
            )
        function = self.app.functions.get(parts[2])
        if function is None:
            return Answer.error(404, f"No function named {parts[2]}.")
        if request.method != "POST":
            return Answer.error(405, f"{request.method} is not allowed here; the endpoint takes POST.", [("Allow", "POST")])
        if function.trigger_type != "timerTrigger":
            return Answer.error(400, "Only timer functions can be run from the admin endpoint here.")
        try:
            function.invoke(timer_request(past_due=False))
        except Exception:  # the host's boundary, as above
            log.exception("function %s failed", function.name)
            return Answer.error(500, f"The function {function.name} failed; the dev host's log has the details.")
        return Answer(202)
