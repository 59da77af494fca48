"""ARM-shaped errors: an exception that carries its HTTP status, code and message."""

from __future__ import annotations


class ApiError(Exception):
    """An error the API answers with `{"error": {"code", "message", "target"?}}`."""

    status = 500

    def __init__(
        self, code: str, message: str, target: str | None = None, details: list[dict] | None = None, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
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
    status = 400


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PreconditionFailed(ApiError):
    status = 412


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class ServiceUnavailable(ApiError):
    status = 503
