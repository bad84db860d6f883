"""The one way a stage's failure becomes ``model.failed``.

A handler catches what went wrong and calls ``failure_event``; a dependency outage is not a failure of the
work and must not get here (``photo3d_common.errors.dependency_failure``): the consumer waits for the
dependency instead (``photo3d_common.broker``)."""

from __future__ import annotations

import json
import uuid

from photo3d_common.errors import Photo3DError
from photo3d_common.events import ModelFailed, Stage
from photo3d_common.logging import get_logger

log = get_logger(__name__)

STAGE_NAMES: dict[Stage, str] = {
    Stage.UPLOAD: "the upload",
    Stage.BACKGROUND_REMOVAL: "background removal",
    Stage.GENERATION: "3D generation",
}


def failure_event(error: BaseException, stage: Stage, *, model_id: uuid.UUID, producer: str) -> ModelFailed:
    """``model.failed`` for ``error``: a ``Photo3DError`` keeps its user message, code and retryability;
    anything else is an unexpected ``internal_error`` the user may retry (logged with its traceback)."""
    if isinstance(error, Photo3DError):
        # the one error line of this failure: the model id is bound, the reason and the exception are here
        log.error(f"{STAGE_NAMES[stage]} failed", code=error.code, reason=error.user_message, exc_info=error)
        detail = error.detail
        return ModelFailed(
            model_id=model_id,
            producer=producer,
            stage=stage,
            reason=error.user_message,
            error_code=error.code,
            retryable=error.retryable,
            detail=(detail if isinstance(detail, str) else json.dumps(detail, default=str))[:4000]
            if detail is not None
            else None,
        )
    log.error(f"{STAGE_NAMES[stage]} failed unexpectedly", exc_info=error)
    return ModelFailed(
        model_id=model_id,
        producer=producer,
        stage=stage,
        reason=f"{STAGE_NAMES[stage]} failed unexpectedly; try again in a moment",
        error_code="internal_error",
        retryable=True,
        detail=f"{type(error).__name__}: {error}"[:4000],
    )
