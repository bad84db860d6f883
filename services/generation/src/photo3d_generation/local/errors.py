"""The reconstructor's one error type: its message is written for the person who took the photos."""

from __future__ import annotations

from typing import Any

from photo3d_common.errors import Photo3DError


class ReconstructionError(Photo3DError, ValueError):
    """The photos cannot be turned into a model; ``str(error)`` says what to change.

    ``code`` is a stable machine-readable reason (``missing_view``, ``no_alpha``, ``empty_silhouette``,
    ``object_too_small``, ``inconsistent_views``, ``empty_volume``) for events and metrics. Retrying with
    the same photos gives the same result, so it is not retryable: new photos are needed.
    """

    status_code = 422
    code = "reconstruction_failed"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, detail: Any = None) -> None:
        super().__init__(message, code=code, detail=detail)

    @property
    def user_message(self) -> str:
        text = str(self)
        return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
