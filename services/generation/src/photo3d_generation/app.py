"""The generation service's FastStream app: the broker, its subscribers and the lifespan that opens the
dependencies (``bootstrap``). Nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream import FastStream

from photo3d_common import metrics
from photo3d_common.broker import (
    EventPublisher,
    broker_check,
    create_broker,
    ensure_topics,
)
from photo3d_common.events import Stage
from photo3d_common.health import Health, probe_server
from photo3d_common.logging import configure_logging, get_logger
from photo3d_common.wiring import Injector

from .bootstrap import Deps, bootstrap
from .consumer import CONSUMER
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
    publish = EventPublisher(broker, settings.kafka)
    injector: Injector[Deps] = Injector()
    CONSUMER.register(broker, settings.kafka, settings.group_id, injector)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await ensure_topics(settings.kafka)
        await CONSUMER.take_over_offsets(settings.kafka, settings.group_id)
        async with bootstrap(settings, providers=providers, publish=publish) as deps:
            log.info(
                "generation worker ready",
                default_provider=settings.default_provider,
                providers=settings.providers,
            )
            checks = {"storage": deps.storage.ping, "broker": broker_check(broker)}
            with injector.serving(deps), metrics.worker_metrics(settings.metrics_port, settings.metrics_host):
                async with probe_server(health, settings.probe_port, checks=checks):
                    yield

    specification = CONSUMER.specification(settings.kafka, settings.group_id, title="photo3d generation")
    return FastStream(broker, lifespan=lifespan, specification=specification)
