"""Litestar glue shared by the HTTP services (upload, status): bearer auth, the one error envelope and the
one place where errors become HTTP responses, the OpenAPI description of those responses, liveness and
readiness. Needs the ``web`` extra."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import Message, Scope
from pydantic import BaseModel, Field

from photo3d_common.auth import TokenVerifier
from photo3d_common.concurrency import run_blocking
from photo3d_common.errors import Photo3DError, Unauthenticated, dependency_failure, error_envelope
from photo3d_common.logging import get_logger

log = get_logger(__name__)

# Paths that answer without a token: health, API docs, dev sign-in, and the web page (its index, its
# files and its client-side routes: every path outside /api that starts with a letter).
PUBLIC_PATHS = (r"^/$", r"^/api/dev/token$", r"^/(?!api/)[A-Za-z]")

#: ``security=`` of a route in PUBLIC_PATHS: OpenAPI then says it needs no token (an empty requirement
#: overrides the document's bearer requirement).
NO_AUTH: list[dict[str, list[str]]] = [{}]

#: Seconds a client should wait before retrying a 503 (a dependency is down).
RETRY_AFTER_S = 5


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: Any, verifier: TokenVerifier, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.verifier = verifier

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("missing bearer token: send 'Authorization: Bearer <token>'")
        try:
            if self.verifier.needs_network:
                principal = await run_blocking(self.verifier.verify, token.strip())
            else:
                principal = self.verifier.verify(token.strip())
        except Unauthenticated as error:
            raise NotAuthorizedException(error.message) from error
        return AuthenticationResult(user=principal, auth=token)


def bearer_auth(verifier: TokenVerifier, *, exclude: tuple[str, ...] = PUBLIC_PATHS) -> DefineMiddleware:
    return DefineMiddleware(BearerAuthMiddleware, verifier=verifier, exclude=list(exclude))


# --- the error envelope ------------------------------------------------------------------------------------
class ErrorInfo(BaseModel):
    code: str = Field(description="stable, for programs: e.g. model_not_found, storage_unavailable")
    message: str = Field(description="for people: what went wrong and what to do about it")
    detail: Any = Field(None, description="optional structured facts (limits, allowed values, fields)")


class ErrorEnvelope(BaseModel):
    """The body of every HTTP error of every photo3d service."""

    error: ErrorInfo


def error_response(
    status_code: int, code: str, message: str, detail: Any = None, *, headers: Mapping[str, str] | None = None
) -> Response[dict[str, Any]]:
    """An error as an HTTP response: the envelope (``errors.error_envelope``), and Retry-After on a 503."""
    if status_code == 503:
        headers = {"Retry-After": str(RETRY_AFTER_S), **(headers or {})}
    return Response(
        error_envelope(code, message, detail), status_code=status_code, headers=dict(headers or {})
    )


def photo3d_error_handler(_: Request[Any, Any, Any], exc: Photo3DError) -> Response[dict[str, Any]]:
    return error_response(exc.status_code, exc.code, exc.message, exc.detail)


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    code = {
        401: "unauthenticated",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }.get(exc.status_code, "validation_error" if isinstance(exc, ValidationException) else "http_error")
    detail = exc.extra if isinstance(exc, ValidationException) else None
    return error_response(exc.status_code, code, exc.detail, detail, headers=exc.headers)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    unavailable = dependency_failure(exc)
    if unavailable is not None:
        log.warning(
            "dependency unavailable",
            code=unavailable.code,
            path=request.url.path,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        return photo3d_error_handler(request, unavailable)
    log.error("unhandled error", path=request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "something went wrong on our side")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Photo3DError: photo3d_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}


# --- OpenAPI: the real error responses -------------------------------------------------------------------
_ERROR_DESCRIPTIONS = {
    400: "the request is malformed: a parameter or field is missing, of the wrong type or out of range "
    "(`validation_error`, with the offending fields in `detail`)",
    401: "no valid bearer token (`unauthenticated`)",
    404: "no such model of yours, or no such file (`not_found`, `model_not_found`); another user's model "
    "answers 404 too",
    405: "the method is not allowed on this path (`method_not_allowed`)",
    409: "the model's state does not allow it (the code says why)",
    413: "the request body is larger than the limit (`file_too_large`)",
    415: "the bytes are not of an accepted type (`unsupported_image_type`)",
    422: "the request is well-formed but its values cannot be used (the code says why)",
    503: "a dependency is down (`database_unavailable`, `storage_unavailable`, `broker_unavailable`, "
    "`status_unavailable`): nothing was changed; retry after `Retry-After` seconds",
}


def error_responses(*statuses: int | tuple[int, str]) -> dict[int, ResponseSpec]:
    """``responses=`` of a route: each status it really answers besides success, with the envelope's
    schema. A status alone gets the standard description; ``(status, description)`` says more. 400 is
    always there: Litestar documents it for every route with an input, with its own body, not ours."""
    specs: dict[int, ResponseSpec] = {}
    for entry in (400, *statuses):
        status, description = entry if isinstance(entry, tuple) else (entry, _ERROR_DESCRIPTIONS[entry])
        specs[status] = ResponseSpec(
            data_container=ErrorEnvelope, description=description, generate_examples=False
        )
    return specs


# --- response headers ------------------------------------------------------------------------------------
async def nosniff(message: Message, _scope: Scope) -> None:
    """``before_send`` hook: browsers must treat every response as its declared type, never sniff one (a
    stored file that also parses as HTML or script must not run as such)."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)["X-Content-Type-Options"] = "nosniff"


# --- liveness and readiness --------------------------------------------------------------------------------
class Liveness(BaseModel):
    status: Literal["ok"] = Field(description="the process serves requests")


class DependencyStatus(BaseModel):
    status: Literal["ok", "unavailable"]
    latency_ms: float = Field(description="how long the check took")
    error: str | None = Field(None, description="why it is unavailable")


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"] = Field(description="ok when every dependency is ok")
    checks: dict[str, DependencyStatus] = Field(description="each dependency by name, with its own status")


Check = Callable[[], Awaitable[object]]


async def _run_check(check: Check, timeout_s: float) -> DependencyStatus:
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            outcome = await check()
        error = "did not answer" if outcome is False else None
    except TimeoutError:
        error = f"no answer within {timeout_s:g} s"
    except Exception as failure:  # noqa: BLE001 - reported in the answer, not raised
        error = f"{type(failure).__name__}: {failure}"[:300]
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    if error is None:
        return DependencyStatus(status="ok", latency_ms=latency_ms)
    return DependencyStatus(status="unavailable", latency_ms=latency_ms, error=error)


async def readiness(checks: Mapping[str, Check], *, timeout_s: float) -> Response[Readiness]:
    """Runs every check at once, each bounded by ``timeout_s`` (a check returning False fails): 200 when
    all pass, else 503 naming what is down."""
    results = await asyncio.gather(*(_run_check(check, timeout_s) for check in checks.values()))
    by_name = dict(zip(checks, results, strict=True))
    down = sorted(name for name, result in by_name.items() if result.status != "ok")
    if down:
        log.warning("not ready", unavailable=down)
    return Response(
        Readiness(status="unavailable" if down else "ok", checks=by_name), status_code=503 if down else 200
    )


READINESS_RESPONSES = {
    503: ResponseSpec(
        data_container=Readiness,
        description="a dependency is unavailable (its check says why)",
        generate_examples=False,
    )
}
