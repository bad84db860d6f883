from __future__ import annotations

from litestar import Controller, post
from litestar.datastructures import State
from litestar.params import JSONBody

from photo3d_common.auth import mint_dev_token
from photo3d_common.web import NO_AUTH, error_responses
from photo3d_status.api.schemas import DevToken, DevTokenRequest


class DevTokenController(Controller):
    """Mounted only when AUTH_DEV_TOKENS_ENABLED=true (local runs): elsewhere the route does not exist."""

    path = "/api/dev/token"
    tags = ("dev",)
    security = NO_AUTH

    @post(
        "/",
        operation_id="createDevToken",
        summary="Sign in as any user (development only)",
        status_code=200,
        responses=error_responses(),
    )
    async def create(self, data: JSONBody[DevTokenRequest], state: State) -> DevToken:
        auth = state.settings.auth
        return DevToken(token=mint_dev_token(auth, data.user), expires_in=auth.dev_token_ttl_s)
