from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from photo3d_common.web import error_responses
from photo3d_common.wiring import inject_dependencies
from photo3d_upload.api.schemas import BackgroundRemovalRequest, GenerationRequest, StageRequestedResponse
from photo3d_upload.bootstrap import Deps
from photo3d_upload.creation import creation_enabled
from photo3d_upload.handlers import Caller, request_background_removal, request_generation

_SMALL_BODY = 64 * 1024


class StageController(Controller):
    """Re-runs of a stage: they publish a request event and return; the workers do the work."""

    path = "/api"
    guards = (creation_enabled,)  # 503 creation_disabled while the operator has creation switched off
    tags = ("stages",)

    @post(
        "/remove-background",
        operation_id="requestBackgroundRemoval",
        summary="(Re-)run background removal",
        description="Allowed after a failure, or once the four photos are in, with all four originals stored; "
        "409 says why not (a missing photo, removal already running, ...).",
        status_code=202,
        request_max_body_size=_SMALL_BODY,
        responses=error_responses(
            400, 401, (404, "no such model of yours (`model_not_found`)"), 409, 413, 503
        ),
    )
    async def remove_background(
        self,
        data: JSONBody[BackgroundRemovalRequest],
        deps: NamedDependency[Deps],
        caller: NamedDependency[Caller],
    ) -> StageRequestedResponse:
        requested = await inject_dependencies(request_background_removal, deps)(data.model_id, caller=caller)
        return StageRequestedResponse.model_validate(requested, from_attributes=True)

    @post(
        "/generate-model",
        operation_id="requestGeneration",
        summary="(Re-)run 3D generation",
        description="Allowed after a failure with all four cut-outs stored (e.g. after a generation failure); "
        "409 says why not. `provider` overrides the model's provider for this run, and `height_m` or "
        "`width_m` (metres, 0.01-100, at most one), `target_faces` (1 000-300 000) and `texture` its options; "
        "invalid ones answer 400 `validation_error`.",
        status_code=202,
        request_max_body_size=_SMALL_BODY,
        responses=error_responses(
            401,
            (404, "no such model of yours (`model_not_found`)"),
            409,
            413,
            (422, "an unknown provider (`invalid_provider`, the known ones in `detail`)"),
            503,
        ),
    )
    async def generate_model(
        self,
        data: JSONBody[GenerationRequest],
        deps: NamedDependency[Deps],
        caller: NamedDependency[Caller],
    ) -> StageRequestedResponse:
        requested = await inject_dependencies(request_generation, deps)(
            data.model_id, data.provider, options=data.options(), caller=caller
        )
        return StageRequestedResponse.model_validate(requested, from_attributes=True)
