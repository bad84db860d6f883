"""Event schemas: the contract between services (see docs/contracts.md).

Every event is a frozen, past-tense fact about one model. The Kafka key is always the model id, so one
model's events stay in order on one partition. Unknown fields are ignored so an older consumer keeps
working when a producer adds a field; a removed or retyped field needs a new ``schema_version``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

View = Literal["front", "left", "right", "back"]
VIEWS: tuple[View, ...] = ("front", "left", "right", "back")

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]

#: A real-world size of the object, in metres (glTF units), from a 1 cm figurine to a 100 m building.
SizeMetres = Annotated[float, Field(ge=0.01, le=100.0, allow_inf_nan=False)]
#: A face budget: below 1 000 triangles hardly any object is recognisable; above 300 000 the browser's
#: viewer and phones' AR viewers struggle (Meshy's own ceiling).
FaceBudget = Annotated[int, Field(ge=1_000, le=300_000)]
DEFAULT_TARGET_FACES = 20_000


def _one_size(height_m: float | None, width_m: float | None) -> None:
    if height_m is not None and width_m is not None:
        raise ValueError(
            "give the object's height_m or its width_m, not both: the other follows from the shape"
        )


class GenerationOptions(BaseModel):
    """What a user chose for one model's 3D result (stored by the status service, carried to the worker).

    ``height_m`` or ``width_m`` (at most one) scales the result so its bounding box is that tall (y) or
    wide (x) in metres; with neither, each provider's natural scale is kept. ``target_faces`` is the face
    budget the delivered mesh meets within 10 %; ``texture`` off delivers plain geometry.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    height_m: SizeMetres | None = None
    width_m: SizeMetres | None = None
    target_faces: FaceBudget = DEFAULT_TARGET_FACES
    texture: bool = True

    @model_validator(mode="after")
    def _at_most_one_size(self) -> GenerationOptions:
        _one_size(self.height_m, self.width_m)
        return self

    def overridden(self, changes: GenerationOptionsChange) -> GenerationOptions:
        """These options with a re-run's changes applied; a new size replaces the other one."""
        given = changes.model_dump(exclude_unset=True, exclude_none=True)
        if "height_m" in given:
            given["width_m"] = None
        elif "width_m" in given:
            given["height_m"] = None
        return GenerationOptions.model_validate({**self.model_dump(), **given})


class GenerationOptionsChange(BaseModel):
    """The options a request may set; fields left out keep the model's (or the default) value."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    height_m: SizeMetres | None = Field(None, description="the object's real height in metres (0.01-100)")
    width_m: SizeMetres | None = Field(
        None, description="the object's real width in metres (0.01-100); at most one of height_m and width_m"
    )
    target_faces: FaceBudget | None = Field(None, description="face budget of the result (1 000-300 000)")
    texture: bool | None = Field(None, description="paint a texture (false: plain geometry)")

    @model_validator(mode="after")
    def _at_most_one_size(self) -> GenerationOptionsChange:
        _one_size(self.height_m, self.width_m)
        return self


class Dimensions(BaseModel):
    """A delivered mesh's bounding box in metres (+Y up, front towards +Z)."""

    model_config = ConfigDict(frozen=True)

    x: float
    y: float
    z: float


class ModelStatus(StrEnum):
    """Mirrors the Postgres enum ``model_status``."""

    DRAFT = "draft"
    UPLOADING_PHOTOS = "uploading_photos"
    PHOTOS_UPLOADED = "photos_uploaded"
    REMOVING_BACKGROUND = "removing_background"
    GENERATING_3D_MODEL = "generating_3d_model"
    COMPLETED = "completed"
    FAILED = "failed"


class Stage(StrEnum):
    """The pipeline stage an event, a progress report or a failure belongs to."""

    UPLOAD = "upload"
    BACKGROUND_REMOVAL = "background_removal"
    GENERATION = "generation"


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    topic: ClassVar[str]

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    model_id: uuid.UUID
    occurred_at: datetime = Field(default_factory=_now)
    schema_version: int = 1
    producer: str
    run_triggered_at: datetime | None = Field(
        None,
        description="a worker's event: when the trigger of the run it belongs to occurred (its "
        "occurred_at), so a run from before a failure or a re-run is told apart; none on a trigger",
    )

    @property
    def kafka_key(self) -> bytes:
        return str(self.model_id).encode()


class PhotoUploaded(Event):
    """One view's photo is stored. The upload service says whether the set of four is now complete."""

    topic: ClassVar[str] = "photos.uploaded"

    view: View
    object_key: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    original_keys: dict[View, str] = Field(description="every view stored so far, this one included")
    all_views_uploaded: bool
    start_processing: bool = Field(
        description="this upload completed the set of a model still collecting photos: "
        "background removal starts by itself"
    )
    provider: str | None = None
    options: GenerationOptions | None = Field(None, description="the model's generation options")


class BackgroundRemovalRequested(Event):
    """A user asked to (re-)run background removal, e.g. after a failure or after replacing a photo."""

    topic: ClassVar[str] = "background.removal_requested"

    original_keys: dict[View, str]
    provider: str | None = None
    options: GenerationOptions | None = None
    requested_by: str


class BackgroundRemovalStarted(Event):
    """A background-removal worker really started on this model."""

    topic: ClassVar[str] = "background.removal_started"

    views: tuple[View, ...] = VIEWS


class StageProgressed(Event):
    """Progress of the running stage, for the status page."""

    topic: ClassVar[str] = "stage.progressed"

    stage: Stage
    progress: Fraction
    detail: str = ""


class ViewWarning(BaseModel):
    """Something about one photo the user should know (the model could still be built from it)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    code: str = Field(description="stable machine-readable reason, e.g. cutout_corrected")
    message: str = Field(description="written for the user: what was seen and what to do about it")


class BackgroundRemoved(Event):
    """The four cut-outs are stored."""

    topic: ClassVar[str] = "background.removed"

    cutout_keys: dict[View, str]
    source_fingerprint: str = Field(description="sha256 over the originals the cut-outs came from")
    provider: str | None = None
    options: GenerationOptions | None = None
    duration_s: float = 0.0
    view_warnings: dict[View, list[ViewWarning]] = Field(
        default_factory=dict,
        description="per photo: what the cross-view check of the cut-outs corrected or doubts "
        "(views without warnings may be absent)",
    )


class GenerationRequested(Event):
    """A user asked to (re-)run 3D generation."""

    topic: ClassVar[str] = "generation.requested"

    cutout_keys: dict[View, str]
    provider: str | None = None
    options: GenerationOptions | None = Field(
        None, description="the model's options with this run's overrides applied"
    )
    requested_by: str


class GenerationStarted(Event):
    """A generation worker really started on this model."""

    topic: ClassVar[str] = "generation.started"

    provider: str
    job_id: str | None = None
    resumed: bool = False
    options: GenerationOptions | None = Field(None, description="the options this run generates with")


class ModelGenerated(Event):
    """The 3D model's assets are stored."""

    topic: ClassVar[str] = "model.generated"

    provider: str
    asset_keys: dict[str, str] = Field(description="format -> object key: glb, obj, stl, preview, ...")
    vertex_count: int
    face_count: int
    file_sizes: dict[str, int] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    job_id: str | None = None
    options: GenerationOptions | None = Field(None, description="the options the model was made with")
    dimensions_m: Dimensions | None = Field(None, description="bounding box of the delivered mesh, metres")
    detail: str | None = Field(
        None, description="what the user should know about the result, e.g. a provider's face limit"
    )


class ModelFailed(Event):
    """A stage gave up on this model. ``reason`` is written for the user; ``detail`` for operators."""

    topic: ClassVar[str] = "model.failed"

    stage: Stage
    reason: str
    error_code: str
    retryable: bool
    detail: str | None = None


class ModelStatusChanged(Event):
    """The status service applied a status change (for integrations that follow along with Kafka)."""

    topic: ClassVar[str] = "model.status_changed"

    owner: str
    previous_status: ModelStatus | None
    status: ModelStatus
    progress: float
    cause_event_id: uuid.UUID | None = None
    cause_topic: str | None = None
    inferred: bool = Field(
        False,
        description="the status service inferred this status: the cause (a later stage's event, consumed "
        "before this stage's own) proves the model passed through it",
    )
    error_stage: Stage | None = None
    error_message: str | None = None


class ParkedMessage(BaseModel):
    """A message a consumer could not parse or handle: kept for a person to look at, never dropped."""

    model_config = ConfigDict(frozen=True)

    topic: ClassVar[str] = "messages.parked"

    parked_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    parked_at: datetime = Field(default_factory=_now)
    parked_by: str
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    payload: str = Field(description="the raw message value, decoded as UTF-8 with replacement")
    error: str
    attempts: int = 1


ALL_EVENTS: tuple[type[Event], ...] = (
    PhotoUploaded,
    BackgroundRemovalRequested,
    BackgroundRemovalStarted,
    StageProgressed,
    BackgroundRemoved,
    GenerationRequested,
    GenerationStarted,
    ModelGenerated,
    ModelFailed,
    ModelStatusChanged,
)

EVENT_BY_TOPIC: dict[str, type[Event]] = {e.topic: e for e in ALL_EVENTS}
ALL_TOPICS: tuple[str, ...] = (*EVENT_BY_TOPIC, ParkedMessage.topic)
