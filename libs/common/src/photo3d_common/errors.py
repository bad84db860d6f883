"""One error hierarchy for every service. HTTP services map it to responses in one place
(``photo3d_common.web``); workers turn it into ``model.failed`` events (``photo3d_common.failures``).

Two kinds of failure, told apart in one place (``dependency_failure``):

- a dependency that is down (object store, broker, database): nothing is wrong with the work, so a worker
  waits for it and retries without end, never parks the message, never fails the model;
- everything else ends the stage with ``model.failed``: ``retryable`` says whether running the same stage
  again, unchanged, may succeed (the page then offers a retry), ``code`` is stable for programs.
"""

from __future__ import annotations

import socket
import traceback
from typing import Any


class Photo3DError(Exception):
    """Base error. ``message`` is written for the user; ``code`` is stable for programs; ``detail`` is for
    operators; ``retryable`` says whether the same stage, run again unchanged, may succeed."""

    status_code: int = 500
    code: str = "internal_error"
    retryable: bool = False

    def __init__(
        self, message: str, *, code: str | None = None, detail: Any = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.detail = detail

    @property
    def user_message(self) -> str:
        """What ``model.failed`` shows the user (``reason``)."""
        return self.message


def error_envelope(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    """The body of every HTTP error of every service, ``{"error": {"code", "message", "detail"?}}``:
    built here only (``photo3d_common.web.error_response`` and the workers' probe server use it)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        body["detail"] = detail
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
    retryable = True


class DependencyUnavailable(ServiceUnavailable):
    """A dependency cannot be reached right now: the work is fine, the infrastructure is not. Workers wait
    for it (never park, never fail the model); HTTP answers 503 with the dependency's code."""

    code = "dependency_unavailable"
    dependency = "a dependency"

    def __init__(self, cause: BaseException | None = None, *, message: str | None = None) -> None:
        text = f"{type(cause).__name__}: {cause}" if cause is not None else None
        super().__init__(
            message or f"{self.dependency} is unavailable right now; try again in a moment", detail=text
        )
        self.cause = cause


class StorageUnavailable(DependencyUnavailable):
    code = "storage_unavailable"
    dependency = "the object store"


class BrokerUnavailable(DependencyUnavailable):
    code = "broker_unavailable"
    dependency = "the message broker"


class DatabaseUnavailable(DependencyUnavailable):
    code = "database_unavailable"
    dependency = "the database"


def dependency_failure(error: BaseException) -> DependencyUnavailable | None:
    """The dependency outage ``error`` reports (itself, or anything in its ``__cause__``/``__context__``
    chain), or None when it is a failure of the work itself.

    Recognised: connection and timeout errors of botocore/aiohttp and S3 5xx answers (object store),
    aiokafka errors other than an oversized message (broker), asyncpg connection errors (database), and
    the operating system's connection errors (whichever dependency it was)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _classify(current)
        if found is not None:
            return found
        if isinstance(current, Photo3DError):
            return None  # decided by the work (e.g. a generation deadline), whatever it was raised from
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return None


_PERMANENT_KAFKA_ERRORS = {"MessageSizeTooLargeError", "RecordListTooLargeError", "InvalidTopicError"}
_TRANSIENT_S3_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"}


def _classify(error: BaseException) -> DependencyUnavailable | None:
    if isinstance(error, DependencyUnavailable):
        return error
    if isinstance(error, Photo3DError):
        return None  # a decided failure of the work, whatever caused it
    module = type(error).__module__.split(".", 1)[0]
    if module == "aiokafka":
        return None if type(error).__name__ in _PERMANENT_KAFKA_ERRORS else BrokerUnavailable(error)
    if module == "faststream" and "connect" in str(error).lower():
        return BrokerUnavailable(error)
    if module in {"botocore", "aiobotocore", "aiohttp"}:
        return _classify_s3(error)
    if module == "asyncpg":
        return _classify_database(error)
    if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):
        return _raised_in(error)(error)
    return None


_CLIENT_LIBRARIES: dict[str, type[DependencyUnavailable]] = {
    "asyncpg": DatabaseUnavailable,
    "botocore": StorageUnavailable,
    "aiobotocore": StorageUnavailable,
    "aiokafka": BrokerUnavailable,
}


def _raised_in(error: BaseException) -> type[DependencyUnavailable]:
    """The dependency whose client library is innermost in the traceback of an operating-system error
    (asyncpg raises the loop's ConnectionRefusedError and its own command TimeoutError unwrapped), so the
    answer names it (``database_unavailable``) instead of ``dependency_unavailable``."""
    found: type[DependencyUnavailable] = DependencyUnavailable
    for frame, _ in traceback.walk_tb(error.__traceback__):
        found = _CLIENT_LIBRARIES.get(str(frame.f_globals.get("__name__", "")).split(".", 1)[0], found)
    return found


def _classify_s3(error: BaseException) -> DependencyUnavailable | None:
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, (ConnectionError, HTTPClientError, OSError)):
        return StorageUnavailable(error)
    if isinstance(error, ClientError):
        response: dict[str, Any] = getattr(error, "response", {}) or {}
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status >= 500 or str(response.get("Error", {}).get("Code")) in _TRANSIENT_S3_CODES:
            return StorageUnavailable(error)
        return None
    if type(error).__module__.startswith("aiohttp") and "Connection" in type(error).__name__:
        return StorageUnavailable(error)
    return None


def _classify_database(error: BaseException) -> DependencyUnavailable | None:
    import asyncpg

    transient = (
        asyncpg.PostgresConnectionError,
        asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
        asyncpg.exceptions.TooManyConnectionsError,
        # a conflict with a concurrent transaction: the same statement succeeds when tried again
        asyncpg.exceptions.DeadlockDetectedError,
        asyncpg.exceptions.SerializationError,
    )
    return DatabaseUnavailable(error) if isinstance(error, transient) else None


class CreationDisabled(ServiceUnavailable):
    """The operator switched model creation off (``photo3d deploy ENV --ui-off``); ``message`` is their notice."""

    code = "creation_disabled"
