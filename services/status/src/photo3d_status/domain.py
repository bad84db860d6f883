"""The status machine: which event may move a model from which status to which, and what it records.

Pure: no I/O, no clock. ``decide(model, event)`` returns what to do, the repository does it.

The table below is the one place the transitions live (docs/contracts.md "Statuses and transitions"). Rows
marked *reorder* are not in the contract's table: the status service consumes each topic separately, so
after a lag (a restart, a backlog) a later stage's event can be handled before an earlier stage's event
for the same model. A later stage's event proves the earlier stages happened, so it may skip ahead; an
earlier stage's event arriving late must never move the status back, but the object keys it carries are
still recorded (*late*). Decision record: docs/adr/0003-reorder-rows-in-the-transition-table.md.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from photo3d_common.events import (
    VIEWS,
    BackgroundRemovalStarted,
    BackgroundRemoved,
    Dimensions,
    Event,
    GenerationOptions,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    ModelStatus,
    PhotoUploaded,
    Stage,
    StageProgressed,
    View,
)

S = ModelStatus

#: Statuses a model can be in while a worker is busy with it.
PROCESSING: frozenset[ModelStatus] = frozenset({S.REMOVING_BACKGROUND, S.GENERATING_3D_MODEL})
TERMINAL: frozenset[ModelStatus] = frozenset({S.COMPLETED})
#: The status a stage's progress reports belong to.
STAGE_STATUS: dict[Stage, ModelStatus] = {
    Stage.BACKGROUND_REMOVAL: S.REMOVING_BACKGROUND,
    Stage.GENERATION: S.GENERATING_3D_MODEL,
}


class EventKind(StrEnum):
    """What the table is keyed by: the event class, with PhotoUploaded split by whether the set is complete."""

    PHOTO_UPLOADED_PARTIAL = "photo_uploaded_partial"
    PHOTO_UPLOADED_COMPLETE = "photo_uploaded_complete"
    BACKGROUND_REMOVAL_STARTED = "background_removal_started"
    UPLOAD_PROGRESSED = "upload_progressed"
    BACKGROUND_PROGRESSED = "background_progressed"
    BACKGROUND_REMOVED = "background_removed"
    GENERATION_STARTED = "generation_started"
    GENERATION_PROGRESSED = "generation_progressed"
    MODEL_GENERATED = "model_generated"
    MODEL_FAILED = "model_failed"


@dataclass(frozen=True)
class Move:
    """Apply the event and set the status to ``to`` (which may be the current one)."""

    to: ModelStatus
    note: str = ""


@dataclass(frozen=True)
class Late:
    """Record the object keys the event carries; leave status and progress alone."""

    note: str


@dataclass(frozen=True)
class LateUnlessRerun:
    """An event of the run that failed, or of an older one: ``Late``. Of a newer run (a re-run whose start
    has not been consumed yet): move to ``to``, as that start would have."""

    to: ModelStatus
    note: str


@dataclass(frozen=True)
class Ignore:
    """Harmless and out of date: nothing to do, not an error."""

    note: str


Rule = Move | Late | LateUnlessRerun | Ignore
K = EventKind

# fmt: off
TRANSITIONS: dict[tuple[EventKind, ModelStatus], Rule] = {
    # PhotoUploaded, set still incomplete
    (K.PHOTO_UPLOADED_PARTIAL, S.DRAFT):               Move(S.UPLOADING_PHOTOS),
    (K.PHOTO_UPLOADED_PARTIAL, S.UPLOADING_PHOTOS):    Move(S.UPLOADING_PHOTOS),
    (K.PHOTO_UPLOADED_PARTIAL, S.PHOTOS_UPLOADED):     Move(S.PHOTOS_UPLOADED, "a photo was replaced"),
    (K.PHOTO_UPLOADED_PARTIAL, S.FAILED):              Move(S.FAILED, "a photo was replaced: waits for a re-run"),
    (K.PHOTO_UPLOADED_PARTIAL, S.REMOVING_BACKGROUND): Late("reorder: background removal already started"),
    (K.PHOTO_UPLOADED_PARTIAL, S.GENERATING_3D_MODEL): Late("reorder: generation already started"),
    (K.PHOTO_UPLOADED_PARTIAL, S.COMPLETED):           Late("reorder: the model is already completed"),
    # PhotoUploaded, all four views in
    (K.PHOTO_UPLOADED_COMPLETE, S.DRAFT):               Move(S.PHOTOS_UPLOADED),
    (K.PHOTO_UPLOADED_COMPLETE, S.UPLOADING_PHOTOS):    Move(S.PHOTOS_UPLOADED),
    (K.PHOTO_UPLOADED_COMPLETE, S.PHOTOS_UPLOADED):     Move(S.PHOTOS_UPLOADED, "a photo was replaced"),
    (K.PHOTO_UPLOADED_COMPLETE, S.FAILED):              Move(S.FAILED, "a photo was replaced: waits for a re-run"),
    (K.PHOTO_UPLOADED_COMPLETE, S.REMOVING_BACKGROUND): Late("reorder: background removal already started"),
    (K.PHOTO_UPLOADED_COMPLETE, S.GENERATING_3D_MODEL): Late("reorder: generation already started"),
    (K.PHOTO_UPLOADED_COMPLETE, S.COMPLETED):           Late("reorder: the model is already completed"),
    # BackgroundRemovalStarted
    (K.BACKGROUND_REMOVAL_STARTED, S.PHOTOS_UPLOADED):     Move(S.REMOVING_BACKGROUND),
    (K.BACKGROUND_REMOVAL_STARTED, S.FAILED):              Move(S.REMOVING_BACKGROUND, "re-run"),
    (K.BACKGROUND_REMOVAL_STARTED, S.REMOVING_BACKGROUND): Move(S.REMOVING_BACKGROUND, "redelivery or restart"),
    (K.BACKGROUND_REMOVAL_STARTED, S.DRAFT):               Move(S.REMOVING_BACKGROUND, "reorder: photos.uploaded not seen yet"),
    (K.BACKGROUND_REMOVAL_STARTED, S.UPLOADING_PHOTOS):    Move(S.REMOVING_BACKGROUND, "reorder: photos.uploaded not seen yet"),
    (K.BACKGROUND_REMOVAL_STARTED, S.GENERATING_3D_MODEL): Ignore("reorder: generation already started"),
    (K.BACKGROUND_REMOVAL_STARTED, S.COMPLETED):           Ignore("reorder: the model is already completed"),
    # StageProgressed: only while the status is that stage's status
    (K.BACKGROUND_PROGRESSED, S.REMOVING_BACKGROUND): Move(S.REMOVING_BACKGROUND),
    (K.GENERATION_PROGRESSED, S.GENERATING_3D_MODEL): Move(S.GENERATING_3D_MODEL),
    # BackgroundRemoved: cut-out keys recorded, progress 1
    (K.BACKGROUND_REMOVED, S.REMOVING_BACKGROUND): Move(S.REMOVING_BACKGROUND),
    (K.BACKGROUND_REMOVED, S.DRAFT):               Move(S.REMOVING_BACKGROUND, "reorder: earlier events not seen yet"),
    (K.BACKGROUND_REMOVED, S.UPLOADING_PHOTOS):    Move(S.REMOVING_BACKGROUND, "reorder: earlier events not seen yet"),
    (K.BACKGROUND_REMOVED, S.PHOTOS_UPLOADED):     Move(S.REMOVING_BACKGROUND, "reorder: removal_started not seen yet"),
    (K.BACKGROUND_REMOVED, S.GENERATING_3D_MODEL): Late("reorder: generation already started"),
    (K.BACKGROUND_REMOVED, S.FAILED):              LateUnlessRerun(S.REMOVING_BACKGROUND, "reorder: a later stage failed, or a re-run's start not seen yet"),
    (K.BACKGROUND_REMOVED, S.COMPLETED):           Late("reorder: the model is already completed"),
    # GenerationStarted
    (K.GENERATION_STARTED, S.REMOVING_BACKGROUND): Move(S.GENERATING_3D_MODEL),
    (K.GENERATION_STARTED, S.FAILED):              Move(S.GENERATING_3D_MODEL, "re-run"),
    (K.GENERATION_STARTED, S.GENERATING_3D_MODEL): Move(S.GENERATING_3D_MODEL, "redelivery or resumed job"),
    (K.GENERATION_STARTED, S.PHOTOS_UPLOADED):     Move(S.GENERATING_3D_MODEL, "reorder: background events not seen yet"),
    (K.GENERATION_STARTED, S.UPLOADING_PHOTOS):    Move(S.GENERATING_3D_MODEL, "reorder: earlier events not seen yet"),
    (K.GENERATION_STARTED, S.DRAFT):               Move(S.GENERATING_3D_MODEL, "reorder: earlier events not seen yet"),
    (K.GENERATION_STARTED, S.COMPLETED):           Ignore("reorder: the model is already completed"),
    # ModelGenerated
    (K.MODEL_GENERATED, S.GENERATING_3D_MODEL): Move(S.COMPLETED),
    (K.MODEL_GENERATED, S.REMOVING_BACKGROUND): Move(S.COMPLETED, "reorder: generation.started not seen yet"),
    (K.MODEL_GENERATED, S.PHOTOS_UPLOADED):     Move(S.COMPLETED, "reorder: earlier events not seen yet"),
    (K.MODEL_GENERATED, S.UPLOADING_PHOTOS):    Move(S.COMPLETED, "reorder: earlier events not seen yet"),
    (K.MODEL_GENERATED, S.DRAFT):               Move(S.COMPLETED, "reorder: earlier events not seen yet"),
    (K.MODEL_GENERATED, S.FAILED):              Move(S.COMPLETED, "reorder: a re-run succeeded"),
    (K.MODEL_GENERATED, S.COMPLETED):           Ignore("already completed"),
    # ModelFailed: any non-terminal status
    (K.MODEL_FAILED, S.DRAFT):               Move(S.FAILED),
    (K.MODEL_FAILED, S.UPLOADING_PHOTOS):    Move(S.FAILED),
    (K.MODEL_FAILED, S.PHOTOS_UPLOADED):     Move(S.FAILED),
    (K.MODEL_FAILED, S.REMOVING_BACKGROUND): Move(S.FAILED),
    (K.MODEL_FAILED, S.GENERATING_3D_MODEL): Move(S.FAILED),
    (K.MODEL_FAILED, S.FAILED):              Move(S.FAILED, "the latest failure is shown"),
}
# fmt: on

#: Progress reports for a stage that is not running are stale, not wrong.
for _kind in (K.UPLOAD_PROGRESSED, K.BACKGROUND_PROGRESSED, K.GENERATION_PROGRESSED):
    for _status in ModelStatus:
        TRANSITIONS.setdefault((_kind, _status), Ignore("progress of a stage that is not running"))


#: The statuses a model passes through, in order, on its way to completion.
SEQUENCE: tuple[ModelStatus, ...] = (
    S.DRAFT,
    S.UPLOADING_PHOTOS,
    S.PHOTOS_UPLOADED,
    S.REMOVING_BACKGROUND,
    S.GENERATING_3D_MODEL,
    S.COMPLETED,
)


def passed_through(from_status: ModelStatus | None, to: ModelStatus) -> list[ModelStatus]:
    """The statuses a move from ``from_status`` to ``to`` passes through, ``to`` last. A *reorder* move
    skips statuses whose events have not been consumed yet (topics are read independently); the model did
    pass through them, so they are recorded too, as inferred. A re-run after a failure starts at its
    stage; one that is seen completing before it was seen starting passed through generation."""
    if from_status is None or to == from_status or to == S.FAILED:
        return [to]
    if from_status == S.FAILED:
        return [S.GENERATING_3D_MODEL, to] if to == S.COMPLETED else [to]
    start, end = SEQUENCE.index(from_status), SEQUENCE.index(to)
    return list(SEQUENCE[start + 1 : end + 1]) if end > start else [to]


@dataclass(frozen=True)
class ModelState:
    """One row of ``models`` as the domain sees it."""

    id: uuid.UUID
    owner: str
    name: str
    status: ModelStatus
    provider: str | None = None
    progress: float = 0.0
    stage_detail: str | None = None
    error_stage: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_retryable: bool | None = None
    photos: Mapping[str, str] = field(default_factory=dict)
    cutouts: Mapping[str, str] = field(default_factory=dict)
    assets: Mapping[str, str] = field(default_factory=dict)
    vertex_count: int | None = None
    face_count: int | None = None
    options: GenerationOptions = field(default_factory=GenerationOptions)
    #: bounding box of the delivered mesh in metres (y up), once generated
    dimensions_m: Dimensions | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    #: occurred_at of the event that set the current status (creation time for a draft)
    status_changed_at: datetime | None = None
    #: when the run that set the current status was triggered (``run_of`` its event)
    run_triggered_at: datetime | None = None
    #: view -> [{"code", "message"}]: what background removal's cross-view check found in each photo
    photo_warnings: Mapping[str, list[dict[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    new: ModelState
    note: str = ""
    outcome: Literal["applied"] = "applied"

    @property
    def reason(self) -> str:
        return self.note


@dataclass(frozen=True)
class NotApplied:
    outcome: Literal["ignored", "rejected"]
    reason: str


Decision = Applied | NotApplied


class UnknownEvent(TypeError):
    """An event type that does not concern the status (a programming error, not a bad message)."""


def kind_of(event: Event) -> EventKind:
    match event:
        case PhotoUploaded(all_views_uploaded=True):
            return K.PHOTO_UPLOADED_COMPLETE
        case PhotoUploaded():
            return K.PHOTO_UPLOADED_PARTIAL
        case BackgroundRemovalStarted():
            return K.BACKGROUND_REMOVAL_STARTED
        case StageProgressed(stage=Stage.BACKGROUND_REMOVAL):
            return K.BACKGROUND_PROGRESSED
        case StageProgressed(stage=Stage.GENERATION):
            return K.GENERATION_PROGRESSED
        case StageProgressed():
            return K.UPLOAD_PROGRESSED
        case BackgroundRemoved():
            return K.BACKGROUND_REMOVED
        case GenerationStarted():
            return K.GENERATION_STARTED
        case ModelGenerated():
            return K.MODEL_GENERATED
        case ModelFailed():
            return K.MODEL_FAILED
    raise UnknownEvent(f"{type(event).__name__} does not affect a model's status")


def decide(model: ModelState | None, event: Event) -> Decision:
    """What ``event`` does to ``model`` (None: no such model, e.g. deleted while a worker ran)."""
    kind = kind_of(event)
    if model is None:
        return NotApplied("ignored", "no such model (deleted?)")
    rule = TRANSITIONS.get((kind, model.status))
    match rule:
        case None:
            return NotApplied(
                "rejected", f"{type(event).__name__} is not allowed while the model is {model.status}"
            )
        case Ignore(note=note):
            return NotApplied("ignored", note)
        case Late(note=note):
            return Applied(_record_keys(model, event), note)
        case LateUnlessRerun(to=to, note=note):
            failed_run = model.run_triggered_at or model.status_changed_at
            if failed_run is not None and run_of(event) > failed_run:
                return Applied(_apply(model, event, to), f"{note}: a re-run")
            return Applied(_record_keys(model, event), note)
        case Move(to=to, note=note):
            if stale := _stale(model, event, kind, to):
                return NotApplied("ignored", stale)
            return Applied(_apply(model, event, to), note)
    raise AssertionError(rule)  # pragma: no cover


def run_of(event: Event) -> datetime:
    """When the run an event belongs to was triggered: a worker's events carry their trigger's time;
    a trigger, an upload or a decision of the status service (the watchdog) is its own run."""
    return event.run_triggered_at or event.occurred_at


def _stale(model: ModelState, event: Event, kind: EventKind, to: ModelStatus) -> str | None:
    """Around failures, an event older than the current status belongs to an earlier run: a start that
    would clear a later failure, or a failure that would end a later re-run. Older means of an older run
    (a worker back after the watchdog failed the model finishes its old trigger late), or of the same run
    but from before the status changed (topics are consumed independently: a run's start may arrive after
    its own failure). Events of one run come from one worker, and a re-run follows a user's action, so
    clock skew between hosts does not decide."""
    if model.status_changed_at is None:
        return None
    current = (model.run_triggered_at or model.status_changed_at, model.status_changed_at)
    if (run_of(event), event.occurred_at) >= current:
        return None
    if model.status == S.FAILED and to != S.FAILED:
        return "stale: this happened before the failure it would clear"
    if kind is K.MODEL_FAILED:
        return f"stale: this failure happened before the model became {model.status}"
    return None


def _record_keys(model: ModelState, event: Event) -> ModelState:
    match event:
        case PhotoUploaded():
            return dataclasses.replace(model, photos=_photo_keys(model, event))
        case BackgroundRemoved():
            return dataclasses.replace(
                model, cutouts=_merged(model.cutouts, event.cutout_keys), photo_warnings=_warnings(event)
            )
    return model  # pragma: no cover - only the two above have Late rows


def _warnings(event: BackgroundRemoved) -> dict[str, list[dict[str, str]]]:
    """The run's warnings replace the previous run's (a view without any has none left)."""
    return {
        view: [warning.model_dump() for warning in warnings]
        for view, warnings in event.view_warnings.items()
        if warnings
    }


def _photo_keys(model: ModelState, event: PhotoUploaded) -> dict[str, str]:
    return _merged(model.photos, {**event.original_keys, event.view: event.object_key})


def _merged(keys: Mapping[str, str], newer: Mapping[View, str]) -> dict[str, str]:
    """Object keys by view: the stored ones, updated with an event's."""
    merged = dict(keys)
    merged.update(newer.items())
    return merged


_NO_ERROR = {"error_stage": None, "error_code": None, "error_message": None, "error_retryable": None}


def _apply(model: ModelState, event: Event, to: ModelStatus) -> ModelState:
    changes: dict[str, Any] = {"status": to}
    entering = to != model.status
    if entering:
        changes["status_changed_at"] = event.occurred_at
    if entering or kind_of(event) is K.MODEL_FAILED:  # the latest failure is its run's
        changes["run_triggered_at"] = run_of(event)
    if entering and model.status == S.FAILED and to != S.FAILED:
        changes.update(_NO_ERROR)  # a re-run clears the last failure
    match event:
        case PhotoUploaded():
            photos = _photo_keys(model, event)
            changes["photos"] = photos
            if event.view in model.cutouts:  # a replaced photo's old cut-out no longer applies
                changes["cutouts"] = {v: k for v, k in model.cutouts.items() if v != event.view}
            if event.view in model.photo_warnings:  # nor do the warnings about the old photo
                changes["photo_warnings"] = {v: w for v, w in model.photo_warnings.items() if v != event.view}
            if to != S.FAILED:
                stored = sum(1 for view in VIEWS if photos.get(view))
                changes["progress"] = stored / len(VIEWS)
                changes["stage_detail"] = f"{stored} of {len(VIEWS)} photos uploaded"
        case BackgroundRemovalStarted():
            if entering:
                # a new run of background removal: the last run's warnings no longer hold
                changes.update(progress=0.0, stage_detail="removing backgrounds", photo_warnings={})
        case StageProgressed():
            changes.update(progress=event.progress, stage_detail=event.detail or model.stage_detail)
        case BackgroundRemoved():
            changes.update(
                cutouts=_merged(model.cutouts, event.cutout_keys),
                photo_warnings=_warnings(event),
                progress=1.0,
                stage_detail="backgrounds removed",
            )
        case GenerationStarted():
            changes["provider"] = event.provider
            if event.options is not None:  # a re-run may have changed them
                changes["options"] = event.options
            if entering:
                changes.update(
                    progress=0.0,
                    stage_detail=f"resuming the {event.provider} job"
                    if event.resumed
                    else "generating the 3D model",
                )
        case ModelGenerated():
            changes.update(
                provider=event.provider,
                assets=dict(event.asset_keys),
                vertex_count=event.vertex_count,
                face_count=event.face_count,
                dimensions_m=event.dimensions_m,
                progress=1.0,
                stage_detail=event.detail,  # e.g. a face budget the provider could not meet
                completed_at=event.occurred_at,
                **_NO_ERROR,
            )
            if event.options is not None:
                changes["options"] = event.options
        case ModelFailed():
            changes.update(
                error_stage=str(event.stage),
                error_code=event.error_code,
                error_message=event.reason,
                error_retryable=event.retryable,
                stage_detail=None,
            )
    return dataclasses.replace(model, **changes)
