"""The upload service's settings: ``UPLOAD_*`` plus the shared Kafka, S3, auth and log blocks."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from photo3d_common.settings import AuthSettings, KafkaSettings, LogSettings, S3Settings, list_from_env

MEGABYTE = 1024 * 1024


class PhotoLimits(BaseSettings):
    """What a photo must satisfy to be stored. Also read from ``UPLOAD_*`` on its own, for the validator."""

    model_config = SettingsConfigDict(env_prefix="UPLOAD_", extra="ignore")

    max_bytes: int = Field(20 * MEGABYTE, ge=1, description="largest accepted file, enforced while streaming")
    min_side_px: int = Field(256, ge=1, description="smallest accepted width and height (after orientation)")
    max_side_px: int = Field(12_000, ge=1, description="largest accepted width and height")
    max_pixels: int = Field(
        64_000_000,
        ge=1,
        description="largest accepted width x height: anything bigger is treated as a decompression bomb "
        "(a 64 MP RGB image decodes to ~190 MB)",
    )
    jpeg_quality: int = Field(
        92,
        ge=50,
        le=100,
        description="quality of JPEGs written when a photo is rotated upright or converted from HEIC",
    )

    @model_validator(mode="after")
    def _sides_make_sense(self) -> PhotoLimits:
        if self.min_side_px > self.max_side_px:
            raise ValueError("UPLOAD_MIN_SIDE_PX must not exceed UPLOAD_MAX_SIDE_PX")
        return self


class UploadSettings(PhotoLimits):
    host: str = "127.0.0.1"
    port: int = 8001
    status_url: str = Field("http://127.0.0.1:8000", description="the status service, which owns the models")
    status_timeout_s: float = Field(10.0, gt=0)
    creation_switch_ttl_s: float = Field(
        5.0, ge=0, description="how long the creation switch read from the status service is trusted"
    )
    publish_timeout_ms: int = Field(
        1_000,
        ge=100,
        description="longest wait for the broker to take an event (metadata included): with the broker "
        "down an upload answers 503 broker_unavailable after this, and stores nothing",
    )
    ready_timeout_s: float = Field(1.0, gt=0, description="longest wait of each readiness check (/ready)")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"],
        description="origins of the web page allowed to call this API from a browser",
    )
    providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["local", "tencent", "selfhosted"],
        description="generation providers a re-run may ask for (same list as STATUS_PROVIDERS)",
    )
    decode_concurrency: int = Field(
        2, ge=1, description="photos decoded at once: each full decode holds the pixels in memory"
    )
    form_overhead_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="allowance for the form's other fields and part headers on top of max_bytes",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    _split_lists = field_validator("cors_origins", "providers", mode="before")(list_from_env)

    @property
    def limits(self) -> PhotoLimits:
        return PhotoLimits.model_construct(**{name: getattr(self, name) for name in PhotoLimits.model_fields})

    @property
    def request_max_body_size(self) -> int:
        return self.max_bytes + self.form_overhead_bytes
