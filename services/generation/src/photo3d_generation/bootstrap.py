"""Composition root of the generation service: the handlers' dependencies, built from settings and opened
at start (``bootstrap``), closed at shutdown. Nothing connects at import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from photo3d_common.concurrency import limit_blas_threads, run_blocking
from photo3d_common.logging import get_logger
from photo3d_common.ports import Publisher, Storage
from photo3d_common.storage import ObjectStorage

from .jobs import JobStore
from .providers.base import GenerationProvider
from .settings import GenerationServiceSettings
from .warm_up import warm_up

log = get_logger(__name__)


@dataclass(frozen=True)
class Deps:
    """The handlers' named dependencies (``handlers.on_*(event, *, storage, jobs, providers, publish,
    settings)``)."""

    storage: Storage
    jobs: JobStore
    providers: Mapping[str, GenerationProvider]
    publish: Publisher
    settings: GenerationServiceSettings


@asynccontextmanager
async def bootstrap(
    settings: GenerationServiceSettings,
    *,
    providers: Mapping[str, GenerationProvider],
    publish: Publisher,
) -> AsyncIterator[Deps]:
    """``providers`` are built (and their settings checked) before the start, by ``build_providers``: a
    missing credential stops the service at once; they are closed here at shutdown. With the local provider
    served, one small reconstruction and export runs first (``warm_up``, ``GENERATION_WARM_UP``)."""
    limit_blas_threads(settings.blas_threads)
    try:
        async with ObjectStorage(settings.s3) as storage:
            if settings.warm_up and "local" in providers:
                seconds = await run_blocking(warm_up, settings.preview_size)
                log.info("local reconstructor warmed up", seconds=round(seconds, 2))
            yield Deps(
                storage=storage,
                jobs=JobStore(storage),
                providers=providers,
                publish=publish,
                settings=settings,
            )
    finally:
        for provider in providers.values():
            await provider.aclose()
