"""ARM-shaped errors: an exception that carries its HTTP status, code and message.

Every call names what it passes, so a code is never read as a message:
`BadRequest("The $top is out of range.", code="InvalidTop", target="$top")`.
An error's code is its class's name unless the call gives one.
"""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """An error the API answers with `{"error": {"code", "message", "target"?, "details"?}}`; 500 InternalServerError."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "InternalServerError"

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass's own name is its code (PreconditionFailed answers "PreconditionFailed"), unless it sets one.
        if "default_code" not in cls.__dict__:
            cls.default_code = cls.__name__

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        target: str | None = None,
        details: list[dict] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = self.default_code if code is None else code
        self.message = message
        self.target = target
        self.details = details
        # Seconds for the Retry-After header: the client may send the same request again after that long.
        self.retry_after = retry_after

    def to_body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}


class BadRequest(ApiError):
    """400: the request itself is wrong (a name, a parameter, the body)."""

    status = 400


class NotFound(ApiError):
    """404: no such job, location or route."""

    status = 404


class Conflict(ApiError):
    """409: the request is well formed, but the job's state does not allow it."""

    status = 409


class PreconditionFailed(ApiError):
    """412: If-Match or If-None-Match does not hold for the job as it is now."""

    status = 412


class RequestTooLarge(ApiError):
    """413: the body, or the job it would make, is larger than the limit."""

    status = 413


class UnsupportedMediaType(ApiError):
    """415: the body's content type or content encoding is not one the API reads."""

    status = 415


class ServiceUnavailable(ApiError):
    """503: try again later (storage did not answer, or the job is contended); usually with Retry-After."""

    status = 503
