"""Hosted and self-hosted Hunyuan 3D providers behind one interface (see ``base.py``)."""

from .base import (
    GeneratedAssets,
    GeneratedFile,
    GenerationInputs,
    GenerationProvider,
    JobHandle,
    JobState,
    JobStatus,
    job_fingerprint,
    run_job,
)
from .errors import (
    ProviderAccountError,
    ProviderAuthError,
    ProviderConfigError,
    ProviderError,
    ProviderInputError,
    ProviderJobFailed,
    ProviderLimitError,
    ProviderProtocolError,
    ProviderTimeout,
    ProviderUnavailable,
    ResultExpired,
)
from .selfhosted import SelfHostedHunyuanProvider, SelfHostedSettings
from .tencent import TencentHunyuanProvider, TencentSettings

__all__ = [
    "GeneratedAssets",
    "GeneratedFile",
    "GenerationInputs",
    "GenerationProvider",
    "JobHandle",
    "JobState",
    "JobStatus",
    "ProviderAccountError",
    "ProviderAuthError",
    "ProviderConfigError",
    "ProviderError",
    "ProviderInputError",
    "ProviderJobFailed",
    "ProviderLimitError",
    "ProviderProtocolError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ResultExpired",
    "SelfHostedHunyuanProvider",
    "SelfHostedSettings",
    "TencentHunyuanProvider",
    "TencentSettings",
    "job_fingerprint",
    "run_job",
]
