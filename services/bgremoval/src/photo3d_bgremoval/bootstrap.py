"""Composition root of the background-removal service: the handlers' dependencies, built from settings
and opened at start (``bootstrap``), closed at shutdown. Nothing connects at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from photo3d_common.concurrency import limit_blas_threads
from photo3d_common.logging import get_logger
from photo3d_common.ports import Publisher, Storage
from photo3d_common.storage import ObjectStorage

from .ports import Remover
from .remover import BackgroundRemover
from .settings import BgRemovalServiceSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class Deps:
    """The handlers' named dependencies (``handlers.on_*(event, *, storage, remover, publish)``)."""

    storage: Storage
    remover: Remover
    publish: Publisher


@asynccontextmanager
async def bootstrap(settings: BgRemovalServiceSettings, *, publish: Publisher) -> AsyncIterator[Deps]:
    remover = BackgroundRemover(settings.removal)
    limit_blas_threads(settings.blas_threads)
    async with ObjectStorage(settings.s3) as storage:
        if settings.warm_up:
            await remover.warm_up()
            log.info("model loaded", model=settings.removal.model_name, slots=settings.removal.mask_slots())
        yield Deps(storage=storage, remover=remover, publish=publish)
