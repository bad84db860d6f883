"""Composition root of the generation service: settings, providers, broker, storage. Nothing runs at
import; ``create_app()`` builds the FastStream app and its lifespan opens the connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
from photo3d_common.events import GenerationStarted, ModelFailed, ModelGenerated, Stage, StageProgressed
from photo3d_common.health import Health, probe_server
from photo3d_common.logging import configure_logging, get_logger
from photo3d_common.storage import ObjectStorage

from .consumer import register_subscribers
from .handlers import Dependencies
from .jobs import JobStore
from .resources import build_providers
from .settings import GenerationServiceSettings

SERVICE = "generation"
log = get_logger(__name__)


def create_app(settings: GenerationServiceSettings | None = None) -> FastStream:
    settings = settings or GenerationServiceSettings()
    configure_logging(SERVICE, settings.log)
    providers = build_providers(settings)  # a missing credential stops the start here, with its reason
    health = Health(SERVICE)
    broker = create_broker(settings.kafka, service=SERVICE, failure_stage=Stage.GENERATION, health=health)
    document_publishers(
        broker, settings.kafka, (GenerationStarted, StageProgressed, ModelGenerated, ModelFailed)
    )
    publish = EventPublisher(broker, settings.kafka)
    opened: dict[str, Dependencies] = {}

    def dependencies() -> Dependencies:
        if "deps" not in opened:
            raise RuntimeError("the service has not started: storage is not open")
        return opened["deps"]

    register_subscribers(broker, settings, dependencies)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await ensure_topics(settings.kafka)
        metrics_server = metrics.serve_worker_metrics(settings.metrics_port, settings.metrics_host)
        async with ObjectStorage(settings.s3) as storage:
            opened["deps"] = Dependencies(
                storage=storage,
                jobs=JobStore(storage),
                providers=providers,
                publish=publish,
                settings=settings,
            )
            log.info(
                "generation worker ready",
                default_provider=settings.default_provider,
                providers=settings.providers,
            )
            checks = {"storage": storage.ping, "broker": broker_check(broker)}
            try:
                async with probe_server(health, settings.probe_port, checks=checks):
                    yield
            finally:
                opened.clear()
                for provider in providers.values():
                    await provider.aclose()
                if metrics_server is not None:
                    metrics_server.shutdown()

    return FastStream(
        broker, lifespan=lifespan, specification=AsyncAPI(title="photo3d generation", version="1.0.0")
    )
