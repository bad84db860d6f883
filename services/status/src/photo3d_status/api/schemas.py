"""What the HTTP API sends and accepts (and what OpenAPI documents)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from photo3d_common.events import VIEWS, Dimensions, GenerationOptions, GenerationOptionsChange, ModelStatus
from photo3d_status.domain import ModelState

#: Text that reaches the database or a log: Postgres rejects NUL, and control characters are never meant.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"


class PhotoWarning(BaseModel):
    code: str = Field(description="stable machine-readable reason, e.g. cutout_corrected")
    message: str = Field(description="written for the user, shown next to the photo")


class Model(BaseModel):
    id: uuid.UUID
    owner: str
    name: str
    status: ModelStatus
    provider: str | None
    progress: float = Field(description="0..1 of the running stage")
    stage_detail: str | None
    error_stage: str | None
    error_code: str | None
    error_message: str | None = Field(description="why it failed, written for the user")
    error_retryable: bool | None
    photos: dict[str, str | None] = Field(description="view -> object key of the original, or null")
    cutouts: dict[str, str | None] = Field(description="view -> object key of the cut-out, or null")
    photo_warnings: dict[str, list[PhotoWarning]] = Field(
        description="view -> what background removal's cross-view check corrected or doubts in that "
        "photo (every view present, lists may be empty; reset when background removal runs again)"
    )
    assets: dict[str, str] = Field(description="format (glb, obj, stl, preview, ...) -> object key")
    vertex_count: int | None
    face_count: int | None
    options: GenerationOptions = Field(
        description="what the model is made with: real size (height_m or width_m, metres; null = the "
        "provider's own scale), face budget, texture"
    )
    dimensions_m: Dimensions | None = Field(
        description="bounding box of the delivered mesh in metres (y up); null until generated"
    )
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, state: ModelState) -> Model:
        return cls(
            id=state.id,
            owner=state.owner,
            name=state.name,
            status=state.status,
            provider=state.provider,
            progress=state.progress,
            stage_detail=state.stage_detail,
            error_stage=state.error_stage,
            error_code=state.error_code,
            error_message=state.error_message,
            error_retryable=state.error_retryable,
            photos={view: state.photos.get(view) for view in VIEWS},
            cutouts={view: state.cutouts.get(view) for view in VIEWS},
            photo_warnings={
                view: [PhotoWarning(**warning) for warning in state.photo_warnings.get(view, [])]
                for view in VIEWS
            },
            assets=dict(state.assets),
            vertex_count=state.vertex_count,
            face_count=state.face_count,
            options=state.options,
            dimensions_m=state.dimensions_m,
            created_at=state.created_at,
            updated_at=state.updated_at,
            completed_at=state.completed_at,
        )


class ModelPage(BaseModel):
    items: list[Model]
    total: int
    limit: int
    offset: int


class CreateModel(GenerationOptionsChange):
    """A new model's name, provider and generation options (each left out: the server's default)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200, pattern=NO_CONTROL_CHARACTERS)
    provider: str | None = Field(
        None,
        max_length=64,
        pattern=NO_CONTROL_CHARACTERS,
        description="generation provider; null for the default",
    )

    def options(self) -> GenerationOptionsChange:
        return GenerationOptionsChange.model_validate(
            self.model_dump(include=set(GenerationOptionsChange.model_fields), exclude_unset=True)
        )


class DevTokenRequest(BaseModel):
    user: str = Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")


class DevToken(BaseModel):
    token: str
    token_type: str = "Bearer"
    expires_in: int


class FrontendConfig(BaseModel):
    uploadBaseUrl: str
    statusBaseUrl: str
    creationEnabled: bool = Field(
        True, description="false while the operator has switched model creation off: show models read-only"
    )
    creationNotice: str | None = Field(None, description="what to tell users while creation is off")
