from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State

from photo3d_status.api.schemas import FrontendConfig, Health


class SystemController(Controller):
    """Unauthenticated: health, the web page's configuration, the AsyncAPI document."""

    tags = ("system",)

    @get("/health", operation_id="health", summary="Liveness and database check")
    async def health(self, state: State) -> Response[Health]:
        return await state.runtime.health()

    @get(
        "/config.json",
        operation_id="frontendConfig",
        summary="Where the web page finds the services, and whether it may create models",
        description="creationEnabled/creationNotice: the operator's creation switch, read on every request.",
    )
    async def frontend_config(self, state: State) -> FrontendConfig:
        return await state.runtime.frontend_config()

    @get(
        "/asyncapi.json", operation_id="asyncapi", summary="AsyncAPI document of the topics this service uses"
    )
    async def asyncapi(self, state: State) -> dict[str, Any]:
        return state.runtime.asyncapi()
