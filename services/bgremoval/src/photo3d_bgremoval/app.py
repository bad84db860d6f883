"""Composition root of the background-removal service: settings, broker, storage, model. Nothing runs at
import; ``create_app()`` builds the FastStream app and its lifespan opens the connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from faststream import FastStream
from faststream.specification import AsyncAPI

from photo3d_common import metrics
from photo3d_common.broker import (
    EventPublisher,
    broker_check,
    create_broker,
    document_publishers,
    ensure_topics,
)
from photo3d_common.events import (
    BackgroundRemovalStarted,
    BackgroundRemoved,
    ModelFailed,
    Stage,
    StageProgressed,
)
from photo3d_common.health import Health, probe_server
from photo3d_common.logging import configure_logging, get_logger
from photo3d_common.storage import ObjectStorage

from .consumer import register_subscribers
from .remover import BackgroundRemover
from .resources import Resources
from .settings import BgRemovalServiceSettings

SERVICE = "bgremoval"
log = get_logger(__name__)


def create_app(settings: BgRemovalServiceSettings | None = None) -> FastStream:
    settings = settings or BgRemovalServiceSettings()
    configure_logging(SERVICE, settings.log)
    health = Health(SERVICE)
    broker = create_broker(
        settings.kafka, service=SERVICE, failure_stage=Stage.BACKGROUND_REMOVAL, health=health
    )
    document_publishers(
        broker, settings.kafka, (BackgroundRemovalStarted, StageProgressed, BackgroundRemoved, ModelFailed)
    )
    resources = Resources(
        settings=settings,
        remover=BackgroundRemover(settings.removal),
        publish=EventPublisher(broker, settings.kafka),
    )
    register_subscribers(broker, resources)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await ensure_topics(settings.kafka)
        metrics_server = metrics.serve_worker_metrics(settings.metrics_port, settings.metrics_host)
        async with ObjectStorage(settings.s3) as storage:
            resources.storage = storage
            if settings.warm_up:
                await anyio.to_thread.run_sync(resources.remover.load)
                log.info("model loaded", model=settings.removal.model_name)
            checks = {"storage": storage.ping, "broker": broker_check(broker)}
            try:
                async with probe_server(health, settings.probe_port, checks=checks):
                    yield
            finally:
                resources.storage = None
                if metrics_server is not None:
                    metrics_server.shutdown()

    return FastStream(
        broker, lifespan=lifespan, specification=AsyncAPI(title="photo3d background removal", version="1.0.0")
    )
