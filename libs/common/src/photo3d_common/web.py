"""Litestar glue shared by the HTTP services (upload, status): bearer auth and the one place where the
error hierarchy becomes HTTP responses. Needs the ``web`` extra."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from photo3d_common.auth import TokenVerifier
from photo3d_common.concurrency import run_blocking
from photo3d_common.errors import Photo3DError, Unauthenticated
from photo3d_common.logging import get_logger

log = get_logger(__name__)

# Paths that answer without a token: health, API docs, dev sign-in, and the web page (its index, its
# files and its client-side routes: every path outside /api that starts with a letter).
PUBLIC_PATHS = (r"^/$", r"^/api/dev/token$", r"^/(?!api/)[A-Za-z]")


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: Any, verifier: TokenVerifier, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.verifier = verifier

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
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


def _error(status_code: int, code: str, message: str, detail: Any = None) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return Response({"error": body}, status_code=status_code)


def photo3d_error_handler(_: Request[Any, Any, Any], exc: Photo3DError) -> Response[dict[str, Any]]:
    return _error(exc.status_code, exc.code, exc.message, exc.detail)


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    code = {
        401: "unauthenticated",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }.get(exc.status_code, "validation_error" if isinstance(exc, ValidationException) else "http_error")
    detail = exc.extra if isinstance(exc, ValidationException) else None
    return _error(exc.status_code, code, exc.detail, detail)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", path=request.url.path)
    return _error(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "something went wrong on our side")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Photo3DError: photo3d_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
