"""One error hierarchy for every service. HTTP services map it to responses in one place
(``photo3d_common.web``); workers turn it into ``model.failed`` reasons."""

from __future__ import annotations

from typing import Any


class Photo3DError(Exception):
    """Base error. ``message`` is written for the user; ``code`` is stable for programs."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return {"error": body}


class InvalidInput(Photo3DError):
    status_code = 422
    code = "invalid_input"


class Unauthenticated(Photo3DError):
    status_code = 401
    code = "unauthenticated"


class NotFound(Photo3DError):
    status_code = 404
    code = "not_found"


class Conflict(Photo3DError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(Photo3DError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(Photo3DError):
    status_code = 415
    code = "unsupported_media_type"


class ServiceUnavailable(Photo3DError):
    status_code = 503
    code = "service_unavailable"


class CreationDisabled(ServiceUnavailable):
    """The operator switched model creation off (``photo3d deploy ENV --ui-off``); ``message`` is their notice."""

    code = "creation_disabled"
