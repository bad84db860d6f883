"""What a user may do to a model in its current state, and why not. Pure: no I/O.

The status service owns the status; these rules only decide whether this service accepts a request, so a
refusal can say why (409). The status service still guards every transition when the event arrives.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from photo3d_common.errors import Conflict
from photo3d_common.events import VIEWS, GenerationOptions, ModelStatus, View

S = ModelStatus

#: Statuses in which the set of four photos is still being collected.
COLLECTING: frozenset[ModelStatus] = frozenset({S.DRAFT, S.UPLOADING_PHOTOS})
#: Statuses in which a photo may be (re)placed: while collecting, once all four are in, or after a failure
#: (the model then waits for an explicit re-run).
UPLOADABLE: frozenset[ModelStatus] = COLLECTING | {S.PHOTOS_UPLOADED, S.FAILED}


class ModelSnapshot(BaseModel):
    """The part of the status service's Model JSON this service needs (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID
    owner: str
    status: ModelStatus
    provider: str | None = None
    options: GenerationOptions | None = None
    error_stage: str | None = None
    photos: dict[str, str | None] = Field(default_factory=dict)
    cutouts: dict[str, str | None] = Field(default_factory=dict)


def views_phrase(views: Iterable[str]) -> str:
    """'the front photo', 'the left and back photos', 'the front, left and back photos'."""
    names = list(views)
    if len(names) == 1:
        return f"the {names[0]} photo"
    return f"the {', '.join(names[:-1])} and {names[-1]} photos"


def missing_views(stored: Mapping[str, str] | Iterable[str]) -> list[View]:
    present = set(stored)
    return [view for view in VIEWS if view not in present]


def _busy(model: ModelSnapshot, what: str) -> Conflict:
    if model.status is S.REMOVING_BACKGROUND:
        return Conflict(
            f"background removal is running for this model: {what} once it has finished or failed",
            code="model_processing",
            detail={"status": model.status.value},
        )
    if model.status is S.GENERATING_3D_MODEL:
        return Conflict(
            f"the 3D model is being generated: {what} once it has finished or failed",
            code="model_processing",
            detail={"status": model.status.value},
        )
    return Conflict(
        "the model is completed and can no longer change: create a new model to use other photos",
        code="model_completed",
        detail={"status": model.status.value},
    )


def ensure_photo_accepted(model: ModelSnapshot) -> None:
    """Photos may be added or replaced while collecting, once all four are in, or after a failure."""
    if model.status not in UPLOADABLE:
        raise _busy(model, "photos can be replaced")


def registered(model: ModelSnapshot) -> list[View]:
    """The views the status service lists for the model: each is stored (a photo is announced only after
    its put). A photo stored while the broker failed (its announcement unconfirmed) is not among them
    until an announcement of it arrives, so its retry is again the upload that completes the set."""
    return [view for view in VIEWS if model.photos.get(view)]


def starts_processing(model: ModelSnapshot, *, before: Iterable[str], after: Iterable[str]) -> bool:
    """This upload completed the set (incomplete before its put, as far as the status service knows, and
    complete after) of a model still collecting photos: background removal then starts by itself."""
    return model.status in COLLECTING and bool(missing_views(before)) and not missing_views(after)


def ensure_background_removal_allowed(model: ModelSnapshot, originals: Mapping[View, str]) -> None:
    """Allowed after a failure or once the four photos are in, and only with all four originals stored."""
    missing = missing_views(originals)
    if model.status is S.REMOVING_BACKGROUND:
        raise Conflict(
            "background removal is already running for this model",
            code="already_running",
            detail={"status": model.status.value},
        )
    if model.status in {S.GENERATING_3D_MODEL, S.COMPLETED}:
        raise _busy(model, "background removal can run again")
    if missing:
        raise Conflict(
            f"{views_phrase(missing)} {'is' if len(missing) == 1 else 'are'} missing: "
            "upload all four photos before removing backgrounds",
            code="photos_missing",
            detail={"status": model.status.value, "missing_views": missing},
        )
    if model.status in COLLECTING:
        # All four are stored but the status service has not registered the last one yet: the upload that
        # completed the set starts background removal by itself.
        raise Conflict(
            "the four photos are still being registered, and background removal starts by itself once they "
            "are: wait a moment",
            code="photos_registering",
            detail={"status": model.status.value},
        )
    # photos_uploaded or failed, with every original stored


def ensure_generation_allowed(model: ModelSnapshot, cutouts: Mapping[View, str]) -> None:
    """Allowed after a failure, and only with all four cut-outs stored."""
    if model.status is S.GENERATING_3D_MODEL:
        raise Conflict(
            "3D generation is already running for this model",
            code="already_running",
            detail={"status": model.status.value},
        )
    if model.status is S.REMOVING_BACKGROUND:
        raise Conflict(
            "background removal is still running: generation starts by itself when it has finished",
            code="model_processing",
            detail={"status": model.status.value},
        )
    if model.status is S.COMPLETED:
        raise _busy(model, "")
    if model.status is not S.FAILED:
        raise Conflict(
            "background removal has not run yet: the 3D model is generated by itself after it, "
            "and can be re-run only after a failure",
            code="not_failed",
            detail={"status": model.status.value},
        )
    missing = missing_views(cutouts)
    if missing:
        what = "the cut-out of" if len(missing) == 1 else "the cut-outs of"
        raise Conflict(
            f"{what} {views_phrase(missing)} {'is' if len(missing) == 1 else 'are'} missing: "
            "run background removal first",
            code="cutouts_missing",
            detail={"status": model.status.value, "missing_views": missing},
        )
