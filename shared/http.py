"""HTTP shaping for the functions: api-version, route keys, JSON bodies in, ARM responses and errors out."""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import azure.functions as func
from azure.core.exceptions import AzureError, HttpResponseError
from pydantic import BaseModel, ValidationError

from .api_versions import ApiVersion
from .errors import ApiError, BadRequest, NotFound, RequestTooLarge, ServiceUnavailable, UnsupportedMediaType
from .filters import JobFilter, parse_filter
from .jobs import Preconditions
from .models import Job
from .names import JobKey, Scope
from .settings import SettingsError
from .storage_client import storage_deadline
from .store import StoredJob

API_VERSIONS = tuple(ApiVersion)
MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
RETRY_AFTER_SECONDS = 5
# The Functions host takes a function key from this query parameter; it is never echoed back.
FUNCTION_KEY_PARAMETER = "code"
_SCHEME = re.compile(r"https?", re.IGNORECASE)
# A DNS name or IPv4 address, or a bracketed IPv6 address, and an optional port.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}))?"
)

log = logging.getLogger("importexport")
Model = TypeVar("Model", bound=BaseModel)


def arm_endpoint(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """Wraps a function's `main`: checks api-version and turns every failure into an ARM error response."""

    @functools.wraps(handler)
    def main(req: func.HttpRequest) -> func.HttpResponse:
        try:
            check_api_version(req)
            with storage_deadline():
                return handler(req)
        except ApiError as error:
            return error_response(error)
        except HttpResponseError as error:
            if error.status_code is not None and error.status_code < 500:
                log.exception("storage refused a request: %s", error.status_code)
                return error_response(ApiError("The storage service refused the request."))
            return _storage_unavailable(error)
        except AzureError as error:  # no answer from storage: connection refused, timed out, reset
            return _storage_unavailable(error)
        except SettingsError as error:
            # Not an outage: no Retry-After, since trying again cannot help until the settings are fixed.
            log.error("the app is misconfigured: %s", error)
            return error_response(ApiError("The app is misconfigured; its log says how.", code="InvalidConfiguration"))
        except Exception:  # the boundary: log it, never send a stack trace
            log.exception("unexpected failure in %s", handler.__module__)
            return error_response(ApiError("The server met an unexpected error."))

    return main


def _storage_unavailable(error: Exception) -> func.HttpResponse:
    log.warning("storage unavailable: %s", type(error).__name__)
    return error_response(
        ServiceUnavailable(
            "The job store is unavailable right now; retry after a short wait.",
            retry_after=RETRY_AFTER_SECONDS,
        )
    )


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


def read_body(req: func.HttpRequest, model: type[Model]) -> Model:
    """The request's JSON body as `model`, read in its api-version's shapes; any flaw is a 400 (or 415) that names it."""
    content_type = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"The content type '{content_type[:100]}' is not supported; send application/json.",
        )
    encoding = (req.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise UnsupportedMediaType(
            f"The content encoding '{encoding[:40]}' is not supported; send the body uncompressed.",
            code="UnsupportedContentEncoding",
        )
    body = req.get_body()
    if len(body) > MAX_BODY_BYTES:
        raise RequestTooLarge(f"The request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}.")
    if not body.strip():
        raise BadRequest("The request body is empty; send a JSON object.", code="InvalidRequestContent")
    try:
        document = json.loads(body, object_pairs_hook=_reject_duplicate_keys)
    except _DuplicateKey as error:
        raise BadRequest(f"The JSON object has the key '{error.key[:100]}' twice.", code="InvalidRequestContent") from error
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest("The request body is not valid JSON.", code="InvalidRequestContent") from error
    except RecursionError as error:
        raise BadRequest("The request body is nested too deeply.", code="InvalidRequestContent") from error
    if _depth(document) > MAX_JSON_DEPTH:
        raise BadRequest(f"The request body is nested deeper than {MAX_JSON_DEPTH} levels.", code="InvalidRequestContent")
    if not isinstance(document, dict):
        raise BadRequest("The request body must be a JSON object.", code="InvalidRequestContent")
    try:
        return model.model_validate(document, context={"api_version": check_api_version(req)})
    except ValidationError as error:
        raise _invalid_content(error) from error


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(key)
        document[key] = value
    return document


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


def _invalid_content(error: ValidationError) -> BadRequest:
    problems = [_Problem(".".join(str(part) for part in e["loc"]) or "body", e["msg"]) for e in error.errors(include_input=False)]
    summary = "; ".join(f"{problem.target}: {problem.message}" for problem in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    details = [
        {"code": "InvalidRequestContent", "target": problem.target, "message": problem.message} for problem in problems[:20]
    ]
    return BadRequest(
        f"The request content is invalid: {summary}{more}.",
        code="InvalidRequestContent",
        target=problems[0].target,
        details=details,
    )


class _Problem(NamedTuple):
    """One thing wrong with a request body: where (a dotted path, or "body") and what."""

    target: str
    message: str


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    all_headers = {"x-ms-request-id": str(uuid.uuid4()), **(headers or {})}
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        headers=all_headers,
        mimetype="application/json",
        charset="utf-8",
    )


def job_response(req: func.HttpRequest, stored: StoredJob, status: int = 200) -> func.HttpResponse:
    """The job in the request's api-version's shape, with its ETag."""
    return json_response(stored.job.to_arm(check_api_version(req)), status, {"ETag": stored.etag})


def list_response(req: func.HttpRequest, jobs: list[Job], skip_token: str | None) -> func.HttpResponse:
    """An ARM list page; `nextLink` is this request's absolute URL continued at `skip_token`."""
    version = check_api_version(req)
    body: dict[str, Any] = {"value": [job.to_arm(version) for job in jobs]}
    if skip_token is not None:
        body["nextLink"] = next_link(req, skip_token)
    return json_response(body)


def next_link(req: func.HttpRequest, skip_token: str) -> str:
    """The request's URL as the client addressed it, continued at `skip_token`; never with the function key.

    Behind a front end (a proxy, App Service's), the forwarded headers say what the client used.
    """
    url = urlsplit(req.url)
    scheme = _first_forwarded(req, "X-Forwarded-Proto", _SCHEME) or url.scheme
    host = _first_forwarded(req, "X-Forwarded-Host", _HOST) or url.netloc
    dropped = {"$skiptoken", FUNCTION_KEY_PARAMETER}
    query = [(name, value) for name, value in parse_qsl(url.query, keep_blank_values=True) if name.lower() not in dropped]
    query.append(("$skipToken", skip_token))
    return urlunsplit((scheme, host, url.path, urlencode(query, safe="$"), ""))


def _first_forwarded(req: func.HttpRequest, header: str, shape: re.Pattern) -> str | None:
    """The first value of a forwarded header, when it has the shape it must; anything else is ignored.

    Any client can send these headers: a value that is not a plain scheme or host[:port] must not make a link.
    """
    value = (req.headers.get(header) or "").split(",")[0].strip()
    return value if shape.fullmatch(value) else None


def empty_response(status: int) -> func.HttpResponse:
    return func.HttpResponse(status_code=status, headers={"x-ms-request-id": str(uuid.uuid4())})


def error_response(error: ApiError) -> func.HttpResponse:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return json_response(error.to_body(), error.status, headers)


def not_found_response(req: func.HttpRequest) -> func.HttpResponse:
    """The answer for a path no operation of the API takes, whatever its api-version: there is nothing to version."""
    path = "/" + (req.route_params.get("path") or "")
    return error_response(NotFound(f"No operation of this API answers {req.method[:16]} {path[:200]}."))
