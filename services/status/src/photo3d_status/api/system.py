from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State

from photo3d_common.logging import get_logger
from photo3d_status.api.deps import Dependencies
from photo3d_status.api.schemas import FrontendConfig, Health

log = get_logger(__name__)


class SystemController(Controller):
    """Unauthenticated: health, the web page's configuration, the AsyncAPI document."""

    tags = ("system",)

    @get("/health", operation_id="health", summary="Liveness and database check")
    async def health(self, deps: Dependencies) -> Response[Health]:
        try:
            await asyncio.wait_for(deps.repository.ping(), timeout=3)
        except Exception as error:  # noqa: BLE001 - reported, not raised
            log.warning("health check failed", error=str(error))
            return Response(Health(status="unavailable", database=f"error: {error}"), status_code=503)
        return Response(Health(status="ok", database="ok"))

    @get("/config.json", operation_id="frontendConfig", summary="Where the web page finds the services")
    async def frontend_config(self, deps: Dependencies) -> FrontendConfig:
        return FrontendConfig(uploadBaseUrl=deps.settings.public_upload_url, statusBaseUrl="")

    @get(
        "/asyncapi.json", operation_id="asyncapi", summary="AsyncAPI document of the topics this service uses"
    )
    async def asyncapi(self, state: State) -> dict[str, Any]:
        document: dict[str, Any] = state.asyncapi()
        return document
