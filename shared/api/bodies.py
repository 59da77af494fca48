"""Request bodies in: the content type and encoding, JSON read strictly, and the request's model read in the shapes
of its api-version (`versions.VersionReader`); any flaw is a 400 (or 413, 415) that names it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from ..domain.errors import BadRequest, RequestTooLarge, UnsupportedMediaType
from ..domain.job import READER
from .http import check_api_version
from .versions import VersionReader

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
Model = TypeVar("Model", bound=BaseModel)


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
        # The wire names are the API's (camelCase) alone: a field's Python name is an unknown property there.
        return model.model_validate(
            document, context={READER: VersionReader(check_api_version(req))}, by_alias=True, by_name=False
        )
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


@dataclass(frozen=True)
class _Problem:
    """One thing wrong with a request body: where (a dotted path, or "body") and what."""

    target: str
    message: str
