from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from litestar import Controller, get
from litestar.params import FromPath
from litestar.response import ServerSentEvent, ServerSentEventMessage

from photo3d_common.web import error_responses
from photo3d_status.api.deps import Models, Owner
from photo3d_status.api.schemas import Model
from photo3d_status.service import StatusUpdate


async def _as_messages(
    updates: AsyncIterator[StatusUpdate], model_id: uuid.UUID
) -> AsyncIterator[ServerSentEventMessage]:
    async for update in updates:
        if update.keepalive:
            yield ServerSentEventMessage(comment="keep-alive")
        elif update.deleted:
            yield ServerSentEventMessage(event="deleted", data=f'{{"id": "{model_id}"}}')
        elif update.model is not None:
            yield ServerSentEventMessage(event="status", data=Model.of(update.model).model_dump_json())


class ModelEventsController(Controller):
    path = "/api/models/{model_id:uuid}/events"
    tags = ("models",)

    @get(
        "/",
        operation_id="watchModel",
        summary="Live model status (server-sent events)",
        description="Event `status` with the Model JSON at connect and on every change; `deleted` when it is gone.",
        media_type="text/event-stream",
        responses=error_responses(401, 404, 503),
    )
    async def watch(self, model_id: FromPath[uuid.UUID], models: Models, owner: Owner) -> ServerSentEvent:
        return ServerSentEvent(
            _as_messages(await models.watch(owner, model_id), model_id), retry_duration=3000
        )
