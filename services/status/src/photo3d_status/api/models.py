from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from photo3d_common.web import error_responses
from photo3d_status.api.deps import Models, Owner
from photo3d_status.api.schemas import CreateModel, Model, ModelPage

#: Past any real list: a larger offset is a mistake (and Postgres' OFFSET is a bigint that would overflow).
MAX_OFFSET = 1_000_000_000


class ModelController(Controller):
    path = "/api/models"
    tags = ("models",)

    @post(
        "/",
        operation_id="createModel",
        summary="Create a draft model",
        description="Optional generation options: `height_m` or `width_m` (the object's real size in metres, "
        "0.01-100, at most one), `target_faces` (1 000-300 000) and `texture`; left out, the server's defaults "
        "apply. Invalid options answer 400 `validation_error` saying which field and why.",
        responses=error_responses(
            401,
            (400, "invalid generation options (`validation_error`, naming the field)"),
            (422, "an unknown generation provider (`invalid_input`, the known ones in `detail`)"),
            503,
        ),
    )
    async def create(self, data: JSONBody[CreateModel], models: Models, owner: Owner) -> Model:
        return Model.of(
            await models.create(owner, name=data.name, provider=data.provider, options=data.options())
        )

    @get(
        "/",
        operation_id="listModels",
        summary="My models, newest first",
        responses=error_responses(401, 503),
    )
    async def list(
        self,
        models: Models,
        owner: Owner,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> ModelPage:
        items, total = await models.list(owner, limit=limit, offset=offset)
        return ModelPage(items=[Model.of(item) for item in items], total=total, limit=limit, offset=offset)

    @get(
        "/{model_id:uuid}",
        operation_id="getModel",
        summary="One model",
        responses=error_responses(401, 404, 503),
    )
    async def get(self, model_id: FromPath[uuid.UUID], models: Models, owner: Owner) -> Model:
        return Model.of(await models.get(owner, model_id))

    @delete(
        "/{model_id:uuid}",
        operation_id="deleteModel",
        summary="Delete a model and its stored files",
        description="409 while a worker is processing it (removing_background, generating_3d_model) unless "
        "force=true; the worker's later events for the deleted model are then ignored.",
        responses=error_responses(
            400, 401, 404, (409, "a worker is processing the model (`model_busy`): wait, or force=true"), 503
        ),
    )
    async def delete(
        self, model_id: FromPath[uuid.UUID], models: Models, owner: Owner, force: FromQuery[bool] = False
    ) -> None:
        await models.delete(owner, model_id, force=force)
