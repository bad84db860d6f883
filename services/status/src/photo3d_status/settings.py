"""The status service's settings: ``STATUS_*`` plus the shared Kafka, S3, auth and log blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from photo3d_common.events import DEFAULT_TARGET_FACES, FaceBudget, GenerationOptions, ModelStatus
from photo3d_common.settings import AuthSettings, KafkaSettings, LogSettings, S3Settings, list_from_env


class DatabaseSettings(BaseSettings):
    """Just what ``python -m photo3d_status migrate`` needs."""

    model_config = SettingsConfigDict(env_prefix="STATUS_", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:54329/photo3d",
        validation_alias=AliasChoices("STATUS_DATABASE_URL", "DATABASE_URL", "database_url"),
    )
    db_pool_min: int = Field(1, ge=1)
    db_pool_max: int = Field(10, ge=1)
    db_connect_timeout_s: float = Field(2.0, gt=0, description="longest wait for a new database connection")
    db_command_timeout_s: float = Field(
        10.0, gt=0, description="longest wait for one statement: a hung database fails the work instead"
    )
    db_request_timeout_s: float = Field(
        2.0,
        gt=0,
        description="longest wait of an API request for the database: then 503 database_unavailable",
    )


class StatusSettings(DatabaseSettings):
    host: str = "127.0.0.1"
    port: int = 8000
    migrate_on_start: bool = True
    providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["local", "tencent", "selfhosted"],
        description="generation providers a model may ask for",
    )
    default_target_faces: FaceBudget = Field(
        DEFAULT_TARGET_FACES, description="face budget of a model created without one"
    )
    default_texture: bool = Field(True, description="whether a model created without the choice is textured")
    public_upload_url: str = Field(
        "http://127.0.0.1:8001", description="the upload service, as browsers reach it"
    )
    frontend_dir: Path | None = Field(None, description="a built frontend/dist to serve at /")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    sse_keepalive_s: float = Field(
        15.0, gt=0, description="comment lines that keep idle proxies from closing SSE"
    )
    outbox_sweep_s: float = Field(5.0, gt=0, description="how often unpublished status changes are retried")
    page_size_max: int = 100
    # The stuck-model watchdog: a model without news for longer than its status's deadline fails with
    # error_code=stage_timeout (retryable). Longer than each worker's own deadline, so a worker that is
    # alive reports its own reason first.
    deadline_photos_uploaded_s: float = Field(
        300.0, gt=0, description="all four photos in, background removal not started"
    )
    deadline_removing_background_s: float = Field(300.0, gt=0)
    deadline_generating_3d_model_s: float = Field(
        1800.0, gt=0, description="above the providers' 15 min job deadline plus downloads"
    )
    watchdog: bool = Field(True, description="run the stuck-model watchdog (with the consumers)")
    watchdog_interval_s: float = Field(15.0, gt=0, description="how often stuck models are looked for")
    consume: bool = Field(True, description="run the Kafka consumers in this process")
    ready_timeout_s: float = Field(1.0, gt=0, description="longest wait of each readiness check (/ready)")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @property
    def stage_deadlines_s(self) -> dict[ModelStatus, float]:
        return {
            ModelStatus.PHOTOS_UPLOADED: self.deadline_photos_uploaded_s,
            ModelStatus.REMOVING_BACKGROUND: self.deadline_removing_background_s,
            ModelStatus.GENERATING_3D_MODEL: self.deadline_generating_3d_model_s,
        }

    s3: S3Settings = Field(default_factory=S3Settings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    _split_lists = field_validator("providers", "cors_origins", mode="before")(list_from_env)

    def default_options(self) -> GenerationOptions:
        """What a model gets for the options its creation left out (no size: the provider's own scale)."""
        return GenerationOptions(target_faces=self.default_target_faces, texture=self.default_texture)
