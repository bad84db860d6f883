"""Settings of the generation service (prefix ``GENERATION_``), composing the shared blocks and each
provider's own settings (``GENERATION_TENCENT_*``, ``GENERATION_SELFHOSTED_*``, ``GENERATION_LOCAL_*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from photo3d_common.settings import KafkaSettings, LogSettings, S3Settings

from .local import ReconstructionSettings
from .providers.selfhosted import SelfHostedSettings
from .providers.tencent import TencentSettings

ProviderName = Literal["local", "tencent", "selfhosted"]


class LocalSettings(BaseSettings):
    """``GENERATION_LOCAL_*``: the built-in CPU reconstructor."""

    model_config = SettingsConfigDict(env_prefix="GENERATION_LOCAL_", extra="ignore")

    voxel_resolution: int = Field(128, ge=16, le=512)
    smoothing_iterations: int = Field(8, ge=0)
    target_faces: int = Field(20_000, ge=0)
    camera_distance: float | None = Field(
        2.5, description="assumed camera distance in object heights (phone photos); None = orthographic"
    )
    max_photo_side: int = Field(1024, ge=64)
    texture_size: int = Field(2048, ge=0, le=8192, description="texture atlas side; 0 = vertex colours only")
    height: float = Field(1.0, gt=0, description="model height in glTF units (metres); photos carry no scale")
    deadline_s: float = Field(
        600.0, gt=0, description="a local reconstruction takes seconds; this is a guard"
    )

    def reconstruction(self) -> ReconstructionSettings:
        return ReconstructionSettings(
            voxel_resolution=self.voxel_resolution,
            smoothing_iterations=self.smoothing_iterations,
            target_faces=self.target_faces,
            camera_distance=self.camera_distance,
            max_photo_side=self.max_photo_side,
            texture_size=self.texture_size,
            height=self.height,
        )


class GenerationServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GENERATION_", extra="ignore")

    group_id: str = "photo3d-generation"
    probe_port: int | None = Field(
        None, description="serve /health and /ready on this port (compose/Kubernetes probes)"
    )
    default_provider: ProviderName = Field("local", description="used when a model names no provider")
    providers: list[ProviderName] = Field(
        default_factory=lambda: ["local"],
        description="providers this worker serves; each must be fully configured (checked at start)",
    )
    preview_size: int = Field(256, ge=64, le=1024)
    metrics_port: int | None = Field(
        None, description="serve Prometheus metrics at :PORT/metrics (off when unset)"
    )
    metrics_host: str = "127.0.0.1"
    local: LocalSettings = Field(default_factory=LocalSettings)
    tencent: TencentSettings = Field(default_factory=TencentSettings)
    selfhosted: SelfHostedSettings = Field(default_factory=SelfHostedSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    log: LogSettings = Field(default_factory=LogSettings)

    @model_validator(mode="after")
    def _default_is_served(self) -> GenerationServiceSettings:
        if self.default_provider not in self.providers:
            self.providers = [*self.providers, self.default_provider]
        return self
