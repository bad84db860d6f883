"""Settings of the background-removal service (prefix ``BGREMOVAL_``), composing the shared blocks."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from photo3d_common.settings import KafkaSettings, LogSettings, S3Settings

from .remover import BackgroundRemovalSettings


class BgRemovalServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BGREMOVAL_", extra="ignore")

    group_id: str = "photo3d-bgremoval"
    probe_port: int | None = Field(
        None, description="serve /health and /ready on this port (compose/Kubernetes probes)"
    )
    warm_up: bool = Field(
        True, description="load the model and compute a first mask per slot at start, not on the first photos"
    )
    blas_threads: int = Field(
        1,
        ge=1,
        description="threads of numpy's and SciPy's BLAS in this worker (the masks' threads are "
        "onnxruntime's own; more BLAS threads only spin: see photo3d_common.concurrency.limit_blas_threads)",
    )
    metrics_port: int | None = Field(
        None, description="serve Prometheus metrics at :PORT/metrics (off when unset)"
    )
    metrics_host: str = "127.0.0.1"
    removal: BackgroundRemovalSettings = Field(default_factory=BackgroundRemovalSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    log: LogSettings = Field(default_factory=LogSettings)
