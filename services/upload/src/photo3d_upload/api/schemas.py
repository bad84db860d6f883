"""What the HTTP API accepts and sends (and what OpenAPI documents)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from litestar.datastructures import UploadFile
from litestar.params import KwargDefinition
from pydantic import BaseModel, ConfigDict, Field

from photo3d_common.events import VIEWS, GenerationOptionsChange, View
from photo3d_upload.handlers import RequestedStage


@dataclass
class PhotoUploadForm:
    """multipart/form-data of ``POST /api/upload-photo``: ``model_id`` (from ``POST /api/models`` of the
    status service), ``view`` (front, left, right or back) and ``file`` (JPEG, PNG, WebP or HEIC, decided
    from its bytes)."""

    model_id: Annotated[str, KwargDefinition(description="the model's id (a UUID)", format="uuid")]
    view: Annotated[str, KwargDefinition(description="which side of the object", enum=list(VIEWS))]
    file: Annotated[
        UploadFile, KwargDefinition(description="the photo: JPEG, PNG, WebP or HEIC (from its bytes)")
    ]


class PhotoStoredResponse(BaseModel):
    model_id: uuid.UUID
    view: View
    key: str = Field(description="object key of the stored original")
    content_type: str = Field(description="type of the stored bytes (HEIC is stored converted to JPEG)")
    width: int = Field(description="pixels, after EXIF orientation")
    height: int = Field(description="pixels, after EXIF orientation")
    size_bytes: int
    sha256: str
    views_stored: list[View]
    all_views_uploaded: bool


class BackgroundRemovalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: uuid.UUID


class GenerationRequest(GenerationOptionsChange):
    """A re-run of generation; ``provider`` and each option left out keep the model's choice."""

    model_config = ConfigDict(extra="forbid")

    model_id: uuid.UUID
    provider: str | None = Field(
        None, max_length=64, description="generation provider; null keeps the model's choice"
    )

    def options(self) -> GenerationOptionsChange | None:
        given = self.model_dump(include=set(GenerationOptionsChange.model_fields), exclude_unset=True)
        return GenerationOptionsChange.model_validate(given) if given else None


class StageRequestedResponse(BaseModel):
    model_id: uuid.UUID
    requested: RequestedStage
