from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State

from photo3d_common.web import NO_AUTH, READINESS_RESPONSES, Liveness, Readiness, readiness
from photo3d_status.api.deps import Dependencies
from photo3d_status.api.schemas import FrontendConfig


class SystemController(Controller):
    """Unauthenticated: liveness, readiness, the web page's configuration, the AsyncAPI document."""

    tags = ("system",)
    security = NO_AUTH

    @get(
        "/health",
        operation_id="health",
        summary="Liveness: the process serves requests",
        description="Checks nothing outside the process (a dead database must not get the service "
        "restarted); `/ready` checks the dependencies.",
    )
    async def health(self) -> Liveness:
        return Liveness(status="ok")

    @get(
        "/ready",
        operation_id="ready",
        summary="Readiness: the database, the broker and the object store, each with its own status",
        description="200 when all three answer within STATUS_READY_TIMEOUT_S, else 503 naming what is down.",
        responses=READINESS_RESPONSES,
    )
    async def ready(self, deps: Dependencies) -> Response[Readiness]:
        timeout_s = deps.settings.ready_timeout_s
        return await readiness(
            {
                "database": deps.repository.ping,
                "broker": lambda: deps.broker.ping(timeout=timeout_s),
                "storage": deps.storage.ping,
            },
            timeout_s=timeout_s,
        )

    @get(
        "/config.json",
        operation_id="frontendConfig",
        summary="Where the web page finds the services, and whether it may create models",
        description="creationEnabled/creationNotice: the operator's creation switch, read on every request.",
    )
    async def frontend_config(self, deps: Dependencies) -> FrontendConfig:
        switch = await deps.creation()
        return FrontendConfig(
            uploadBaseUrl=deps.settings.public_upload_url,
            statusBaseUrl="",
            creationEnabled=switch.enabled,
            creationNotice=None if switch.enabled else switch.notice,
        )

    @get(
        "/asyncapi.json", operation_id="asyncapi", summary="AsyncAPI document of the topics this service uses"
    )
    async def asyncapi(self, state: State) -> dict[str, Any]:
        document: dict[str, Any] = state.asyncapi()
        return document
