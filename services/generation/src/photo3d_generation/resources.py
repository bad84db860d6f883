"""The generation providers this worker serves, built from settings and checked at start."""

from __future__ import annotations

from .providers.base import GenerationProvider
from .providers.local import LocalReconstructionProvider
from .providers.selfhosted import SelfHostedHunyuanProvider
from .providers.tencent import TencentHunyuanProvider
from .settings import GenerationServiceSettings


def build_providers(settings: GenerationServiceSettings) -> dict[str, GenerationProvider]:
    """The providers this worker serves, by name. A chosen provider that is not fully configured (e.g. a
    missing credential) raises ProviderConfigError here, at start-up."""
    providers: dict[str, GenerationProvider] = {}
    if "local" in settings.providers:
        providers["local"] = LocalReconstructionProvider(settings.local)
    if "tencent" in settings.providers:
        providers["tencent"] = TencentHunyuanProvider(settings.tencent)
    if "selfhosted" in settings.providers:
        providers["selfhosted"] = SelfHostedHunyuanProvider(settings.selfhosted)
    for provider in providers.values():
        provider.validate()
    return providers
