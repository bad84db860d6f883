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

from pydantic import BaseModel, ConfigDict, Field

View = Literal["front", "left", "right", "back"]
VIEWS: tuple[View, ...] = ("front", "left", "right", "back")

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


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


class BackgroundRemovalRequested(Event):
    """A user asked to (re-)run background removal, e.g. after a failure or after replacing a photo."""

    topic: ClassVar[str] = "background.removal_requested"

    original_keys: dict[View, str]
    provider: str | None = None
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
    requested_by: str


class GenerationStarted(Event):
    """A generation worker really started on this model."""

    topic: ClassVar[str] = "generation.started"

    provider: str
    job_id: str | None = None
    resumed: bool = False


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
