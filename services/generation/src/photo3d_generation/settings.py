"""Settings of the generation service (prefix ``GENERATION_``), composing the shared blocks and each
provider's own settings (``GENERATION_TENCENT_*``, ``GENERATION_SELFHOSTED_*``, ``GENERATION_LOCAL_*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from photo3d_common.settings import KafkaSettings, LogSettings, S3Settings

from .providers.local import LocalSettings
from .providers.selfhosted import SelfHostedSettings
from .providers.tencent import TencentSettings

ProviderName = Literal["local", "tencent", "selfhosted"]

__all__ = ["GenerationServiceSettings", "LocalSettings", "ProviderName"]


_LOCAL_ONLY: list[ProviderName] = ["local"]


class GenerationServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GENERATION_", extra="ignore")

    group_id: str = "photo3d-generation"
    probe_port: int | None = Field(
        None, description="serve /health and /ready on this port (compose/Kubernetes probes)"
    )
    default_provider: ProviderName = Field("local", description="used when a model names no provider")
    providers: list[ProviderName] = Field(
        default_factory=lambda: _LOCAL_ONLY.copy(),
        description="providers this worker serves; each must be fully configured (checked at start)",
    )
    preview_size: int = Field(256, ge=64, le=1024)
    blas_threads: int = Field(
        1,
        ge=1,
        description="threads of numpy's and SciPy's BLAS in this worker (more only spin: see "
        "photo3d_common.concurrency.limit_blas_threads)",
    )
    warm_up: bool = Field(
        True,
        description="reconstruct and export a small object at start when the local provider is served, so "
        "the first model does not pay the process's first calls (~0.5 CPU s)",
    )
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
