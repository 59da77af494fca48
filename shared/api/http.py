"""The HTTP edge of every function: api-version and query parameters, route keys, ARM responses and errors out.

`arm_endpoint` makes each function's `main`: it admits the caller (`Gate`: who it is, and whether its roles allow
the function's action), gives the request its storage deadline and turns every failure into an ARM error body,
never a stack trace. Request bodies are read by `bodies`, answers' bodies built by
`rendering`.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

import azure.functions as func
from azure.core.exceptions import AzureError

from ..domain.access import AccessPolicy, Action, Caller
from ..domain.errors import ApiError, AuthorizationFailed, BadRequest, NotFound, ServiceUnavailable
from ..domain.job import Job
from ..domain.job_filter import JobFilter
from ..domain.jobs import Preconditions
from ..domain.locations import LocationCatalogue
from ..domain.names import PROVIDER, JobKey, Scope
from ..domain.store import StoredJob
from ..settings import SettingsError
from ..storage.client import FailureKind, storage_deadline, storage_failure
from ..storage.entities import UnreadableJob
from .callers import CallerReading, request_caller
from .filters import parse_filter
from .rendering import job_resource
from .versions import ApiVersion

API_VERSIONS = tuple(ApiVersion)
RETRY_AFTER_SECONDS = 5
# The Functions host takes a function key from this query parameter; it is never echoed back.
FUNCTION_KEY_PARAMETER = "code"
_SCHEME = re.compile(r"https?", re.IGNORECASE)
# A DNS name or IPv4 address, or a bracketed IPv6 address, and an optional port.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}))?"
)

log = logging.getLogger("importexport")


KEYS_MODE_BUT_ANONYMOUS = (
    "IMPORTEXPORT_AUTH_MODE is keys, but this function's authLevel is anonymous, so no one checks a key: set "
    "IMPORTEXPORT_AUTH_MODE=entra (behind App Service Authentication) or run python -m scripts.auth_level keys"
)
# A function's body: the request, and the caller the gate let through.
Handler = Callable[[func.HttpRequest, Caller], func.HttpResponse]
FunctionMain = Callable[[func.HttpRequest], func.HttpResponse]


@dataclass(frozen=True)
class Gate:
    """What a request must pass before its function runs: who the caller is (`reading`), and what it may do (`policy`)."""

    reading: CallerReading
    policy: AccessPolicy

    def admit(self, req: func.HttpRequest, action: Action | None, *, anonymous: bool = False) -> Caller:
        """The caller, when it may take `action` over the request's scope (any caller, for None); else 401 or 403.

        `anonymous`: the function's authLevel lets any request in, so in keys mode no one would check a key.
        """
        if anonymous and not self.reading.mode.takes_entra_callers:
            raise SettingsError(KEYS_MODE_BUT_ANONYMOUS)
        caller = request_caller(req.headers, self.reading)
        if action is not None:
            try:
                self.policy.authorize(caller, action, request_scope(req))
            except AuthorizationFailed:
                log.warning("refused %s to %s %s (%s)", action.value, caller.type.value, caller.name, caller.object_id)
                raise
        return caller


def request_scope(req: func.HttpRequest) -> str:
    """The ARM scope a request acts on, from its route's names once they are valid ones (else 400): a job, a resource
    group, a subscription, or the provider's locations. The roles are checked against the names the store uses."""
    route = req.route_params
    if "subscriptionId" not in route:
        location = route.get("locationName")
        return f"/providers/{PROVIDER}/locations" + (f"/{location}" if location else "")
    if "jobName" in route:
        return job_key(req).resource_id
    scope = Scope.parse(route["subscriptionId"], route.get("resourceGroupName"))
    listed = f"/subscriptions/{scope.subscription_id}"
    return listed if scope.resource_group is None else f"{listed}/resourceGroups/{scope.resource_group}"


def arm_endpoint(
    action: Action | None, *, gate: Callable[[], Gate], anonymous: bool = False
) -> Callable[[Handler], FunctionMain]:
    """Makes a function's `main` of `handler`: the caller must pass `gate()` for `action` (401, 403), the api-version
    must be one the API has (400); every failure becomes an ARM error response, never a stack trace."""

    def decorate(handler: Handler) -> FunctionMain:
        def main(req: func.HttpRequest) -> func.HttpResponse:
            try:
                caller = gate().admit(req, action, anonymous=anonymous)
                check_api_version(req)
                with storage_deadline():
                    return handler(req, caller)
            except ApiError as error:
                return error_response(error)
            except AzureError as error:  # storage refused, or did not answer: one log line, never a stack trace
                return _storage_failed(error)
            except SettingsError as error:
                # Not an outage: no Retry-After, since trying again cannot help until the settings are fixed.
                log.error("the app is misconfigured: %s", error)
                return error_response(ApiError("The app is misconfigured; its log says how.", code="InvalidConfiguration"))
            except UnreadableJob as error:  # damage no write of ours makes: nothing the caller can do about it
                log.error("%s", error)
                return error_response(
                    ApiError("The stored job cannot be read; an operator must repair or delete it.", code="UnreadableJob")
                )
            except Exception:  # the boundary: log it, never send a stack trace
                log.exception("unexpected failure in %s", handler.__module__)
                return error_response(ApiError("The server met an unexpected error."))

        # The host binds `main`'s parameters to function.json's bindings by name: it must show `req` alone, so it
        # takes the handler's name and docs but not its signature (no `__wrapped__`).
        main.__module__, main.__name__, main.__qualname__, main.__doc__ = (
            handler.__module__,
            handler.__name__,
            handler.__qualname__,
            handler.__doc__,
        )
        return main

    return decorate


def _storage_failed(error: AzureError) -> func.HttpResponse:
    failure = storage_failure(error)
    if failure.kind is FailureKind.UNAVAILABLE:
        log.warning("storage unavailable: %s", failure.text)
        return error_response(
            ServiceUnavailable(
                "The job store is unavailable right now; retry after a short wait.", retry_after=RETRY_AFTER_SECONDS
            )
        )
    log.error("%s", failure.text)
    if failure.kind is FailureKind.NO_TOKEN:  # the identity's token endpoint may come back; a wrong setting will not
        return error_response(
            ServiceUnavailable(
                "The app cannot sign in to its storage right now; its log says why.", retry_after=RETRY_AFTER_SECONDS
            )
        )
    if failure.kind is FailureKind.REFUSED_CREDENTIALS:
        return error_response(ApiError("The app's storage refused its credentials; its log says why."))
    return error_response(ApiError("The storage service refused the request."))


def query_parameters(req: func.HttpRequest) -> dict[str, str]:
    """The query's parameters by lower-case name, as ARM reads names (`$FILTER` is `$filter`); a repeated one is a 400.

    Read from the URL, where the host keeps every occurrence; `params` is the fallback for a request built without one.
    """
    query = urlsplit(req.url).query
    pairs = parse_qsl(query, keep_blank_values=True) if query else list(req.params.items())
    parameters: dict[str, str] = {}
    for name, value in pairs:
        lowered = name.lower()
        if lowered in parameters and lowered != FUNCTION_KEY_PARAMETER:
            code = "InvalidApiVersionParameter" if lowered == "api-version" else "InvalidQueryParameter"
            raise BadRequest(
                f"The query parameter '{name[:40]}' is given more than once; give it once.", code=code, target=name[:40]
            )
        parameters[lowered] = value
    return parameters


def check_api_version(req: func.HttpRequest) -> ApiVersion:
    """The request's api-version; a missing or unknown one is a 400."""
    version = query_parameters(req).get("api-version")
    if not version:
        raise BadRequest(
            f"The api-version query parameter (?api-version=) is required for all requests. "
            f"Supported versions: {', '.join(API_VERSIONS)}.",
            code="MissingApiVersionParameter",
        )
    if version not in API_VERSIONS:
        raise BadRequest(
            f"The api-version '{version[:40]}' is invalid. The supported versions are {', '.join(API_VERSIONS)}.",
            code="InvalidApiVersionParameter",
        )
    return ApiVersion(version)


def job_key(req: func.HttpRequest) -> JobKey:
    route = req.route_params
    return JobKey.parse(route.get("subscriptionId", ""), route.get("resourceGroupName", ""), route.get("jobName", ""))


@dataclass(frozen=True)
class ListQuery:
    """What a list request asks for: where to look, which jobs, how many, and from where on."""

    scope: Scope
    top: int
    skip_token: str | None
    job_filter: JobFilter | None


def list_query(req: func.HttpRequest) -> ListQuery:
    """The scope (from the route), filter, page size and continuation of a list request."""
    parameters = query_parameters(req)
    route = req.route_params
    scope = Scope.parse(route.get("subscriptionId", ""), route.get("resourceGroupName"))
    raw_filter = parameters.get("$filter")
    return ListQuery(
        scope=scope,
        top=parse_top(parameters.get("$top")),
        skip_token=parameters.get("$skiptoken"),
        job_filter=None if raw_filter is None else parse_filter(raw_filter),
    )


def preconditions(req: func.HttpRequest) -> Preconditions:
    return Preconditions(if_match=req.headers.get("If-Match"), if_none_match=req.headers.get("If-None-Match"))


def parse_top(raw: str | None, maximum: int = 100) -> int:
    if raw is None:
        return maximum
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"$top must be a whole number from 1 to {maximum}.", code="InvalidTop", target="$top")
    return int(raw)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    all_headers = {"x-ms-request-id": str(uuid.uuid4()), **(headers or {})}
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        headers=all_headers,
        mimetype="application/json",
        charset="utf-8",
    )


def job_response(
    req: func.HttpRequest, stored: StoredJob, status: int = 200, *, locations: LocationCatalogue | None = None
) -> func.HttpResponse:
    """The job in the request's api-version's shape, with its ETag; its location by its display name from
    `locations` (as the service answers all but a PUT, which echoes the location as it was sent)."""
    location = None if locations is None else locations.display_name(stored.job.location)
    return json_response(job_resource(stored.job, check_api_version(req), location=location), status, {"ETag": stored.etag})


def list_response(
    req: func.HttpRequest,
    jobs: list[Job],
    skip_token: str | None,
    *,
    locations: LocationCatalogue,
    drives: bool,
    trust_forwarded: bool = False,
) -> func.HttpResponse:
    """An ARM list page, each job's location by its display name and, unless `drives`, without its drives (as the
    service lists a resource group's jobs); `nextLink` is this request's absolute URL continued at `skip_token`
    (`next_link`)."""
    version = check_api_version(req)
    body: dict[str, Any] = {
        "value": [job_resource(job, version, location=locations.display_name(job.location), drives=drives) for job in jobs]
    }
    if skip_token is not None:
        body["nextLink"] = next_link(req, skip_token, trust_forwarded=trust_forwarded)
    return json_response(body)


def next_link(req: func.HttpRequest, skip_token: str, *, trust_forwarded: bool = False) -> str:
    """The request's URL as the client addressed it, continued at `skip_token`; never with the function key.

    The URL is the one the Functions host gives (its `Host`). Only with `trust_forwarded` (the operator's proxy sits in
    front and sets them) do X-Forwarded-Host and -Proto say what the client used: any client can send them.
    """
    url: SplitResult = urlsplit(req.url)  # func.HttpRequest.url is untyped
    scheme = (trust_forwarded and _first_forwarded(req, "X-Forwarded-Proto", _SCHEME)) or url.scheme
    host = (trust_forwarded and _first_forwarded(req, "X-Forwarded-Host", _HOST)) or url.netloc
    dropped = {"$skiptoken", FUNCTION_KEY_PARAMETER}
    query = [(name, value) for name, value in parse_qsl(url.query, keep_blank_values=True) if name.lower() not in dropped]
    query.append(("$skipToken", skip_token))
    return urlunsplit((scheme, host, url.path, urlencode(query, safe="$"), ""))


def _first_forwarded(req: func.HttpRequest, header: str, shape: re.Pattern[str]) -> str | None:
    """The first value of a forwarded header, when it has the shape it must; anything else is ignored.

    Any client can send these headers: a value that is not a plain scheme or host[:port] must not make a link.
    """
    value = (req.headers.get(header) or "").split(",")[0].strip()
    return value if shape.fullmatch(value) else None


def empty_response(status: int) -> func.HttpResponse:
    return func.HttpResponse(status_code=status, headers={"x-ms-request-id": str(uuid.uuid4())})


def error_response(error: ApiError) -> func.HttpResponse:
    return json_response(error.to_body(), error.status, error.headers())


def not_found_response(req: func.HttpRequest) -> func.HttpResponse:
    """The answer for a path no operation of the API takes, whatever its api-version: there is nothing to version."""
    path = "/" + (req.route_params.get("path") or "")
    return error_response(NotFound(f"No operation of this API answers {req.method[:16]} {path[:200]}."))
