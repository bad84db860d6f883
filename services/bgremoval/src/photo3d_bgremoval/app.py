"""The background-removal service's FastStream app: the broker, its subscribers and the lifespan that
opens the dependencies (``bootstrap``). Nothing runs at import."""

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
from photo3d_common.events import (
    Stage,
)
from photo3d_common.health import Health, probe_server
from photo3d_common.logging import configure_logging
from photo3d_common.wiring import Injector

from .bootstrap import Deps, bootstrap
from .consumer import CONSUMER
from .settings import BgRemovalServiceSettings

SERVICE = "bgremoval"


def create_app(settings: BgRemovalServiceSettings | None = None) -> FastStream:
    settings = settings or BgRemovalServiceSettings()
    configure_logging(SERVICE, settings.log)
    health = Health(SERVICE)
    broker = create_broker(
        settings.kafka, service=SERVICE, failure_stage=Stage.BACKGROUND_REMOVAL, health=health
    )
    publish = EventPublisher(broker, settings.kafka)
    injector: Injector[Deps] = Injector()
    CONSUMER.register(broker, settings.kafka, settings.group_id, injector)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await ensure_topics(settings.kafka)
        await CONSUMER.take_over_offsets(settings.kafka, settings.group_id)
        async with bootstrap(settings, publish=publish) as deps:
            checks = {"storage": deps.storage.ping, "broker": broker_check(broker)}
            with injector.serving(deps), metrics.worker_metrics(settings.metrics_port, settings.metrics_host):
                async with probe_server(health, settings.probe_port, checks=checks):
                    yield

    specification = CONSUMER.specification(
        settings.kafka, settings.group_id, title="photo3d background removal"
    )
    return FastStream(broker, lifespan=lifespan, specification=specification)
