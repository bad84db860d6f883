"""Composition root of the upload service: the handlers' dependencies, built from settings and opened at
start (``bootstrap``, run by the Litestar lifespan), closed at shutdown. Nothing connects at import."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx
from faststream.kafka import KafkaBroker

from photo3d_common.broker import EventPublisher, ensure_topics
from photo3d_common.concurrency import CapacityLimiter
from photo3d_common.logging import get_logger
from photo3d_common.ports import Publisher, Storage
from photo3d_common.storage import ObjectStorage
from photo3d_upload.creation import CreationGate
from photo3d_upload.handlers import ModelLocks
from photo3d_upload.ports import ModelLookup
from photo3d_upload.settings import PhotoLimits, UploadSettings
from photo3d_upload.status_client import StatusClient

log = get_logger(__name__)


@dataclass(frozen=True)
class Deps:
    """The handlers' named dependencies (``handlers.upload_photo(..., *, status, storage, publish, limits,
    locks, decoding)``, ``request_*(..., *, status, storage, publish[, providers])``)."""

    storage: Storage
    status: ModelLookup
    publish: Publisher
    limits: PhotoLimits
    locks: ModelLocks
    decoding: CapacityLimiter
    providers: Sequence[str]
    creation: CreationGate  # the operator's creation switch, read from the status service


@contextlib.asynccontextmanager
async def bootstrap(settings: UploadSettings, *, broker: KafkaBroker) -> AsyncIterator[Deps]:
    async with contextlib.AsyncExitStack() as stack:
        storage = await stack.enter_async_context(ObjectStorage(settings.s3))
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=settings.status_url, timeout=settings.status_timeout_s)
        )
        await ensure_topics(settings.kafka)
        await broker.connect()
        stack.push_async_callback(broker.stop)
        await broker.start()
        log.info("upload service ready", status_url=settings.status_url, bucket=settings.s3.bucket)
        yield Deps(
            storage=storage,
            status=StatusClient(http),
            publish=EventPublisher(broker, settings.kafka),
            limits=settings.limits,
            locks=ModelLocks(),
            decoding=CapacityLimiter(settings.decode_concurrency),
            providers=settings.providers,
            creation=CreationGate(http, ttl_s=settings.creation_switch_ttl_s),
        )
