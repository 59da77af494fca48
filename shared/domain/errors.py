"""The errors the contract names, ARM-shaped: an exception that carries its HTTP status, code and message.

A class per meaning; its code is its name unless the call gives one. Every call names what it passes, so a
code is never read as a message: `BadRequest("The $top is out of range.", code="InvalidTop", target="$top")`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """An error the API answers with `{"error": {"code", "message", "target"?, "details"?}}`; 500 InternalServerError."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "InternalServerError"

    def __init_subclass__(cls, **kwargs: Any) -> None:
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
        details: list[dict[str, str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = self.default_code if code is None else code
        self.message = message
        self.target = target
        self.details = details
        # Seconds for the Retry-After header: the client may send the same request again after that long.
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """The response headers the error calls for."""
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}


class BadRequest(ApiError):
    """400: the request itself is wrong (a name, a parameter, the body)."""

    status = 400


class AuthenticationFailed(ApiError):
    """401: the request carries no caller the app can trust (no, or no valid, Entra ID principal)."""

    status = 401

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "WWW-Authenticate": "Bearer"}  # RFC 6750: the scheme the caller must use


class AuthorizationFailed(ApiError):
    """403: the caller's roles do not grant the action over the request's scope."""

    status = 403


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


class InvalidJobState(Conflict):
    """409: the job's state does not allow the operation (replace, edit, cancel, delete)."""


class InvalidStateTransition(Conflict):
    """409: the job cannot move to the state asked for from the state it is in."""


class InvalidMoveTime(BadRequest):
    """400: the time an operator gives a move is in the future, before the job's last move, or out of range."""


class ShippingInformationMissing(BadRequest):
    """400: a job cannot move to Shipping before its return address and delivery package are set."""


class InvalidSkipToken(BadRequest):
    """400: a `$skipToken` that the listing it was sent to did not give out."""
