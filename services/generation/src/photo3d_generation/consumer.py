"""``on_<topic>`` subscribers: thin adapters from Kafka messages to the handlers."""

from __future__ import annotations

from collections.abc import Callable

from faststream.kafka import KafkaBroker

from photo3d_common.broker import event_subscriber
from photo3d_common.events import BackgroundRemoved, GenerationRequested

from . import handlers
from .settings import GenerationServiceSettings


def register_subscribers(
    broker: KafkaBroker,
    settings: GenerationServiceSettings,
    dependencies: Callable[[], handlers.Dependencies],
) -> None:
    kafka, group = settings.kafka, settings.group_id

    @event_subscriber(broker, kafka, BackgroundRemoved, group=group)
    async def on_background_removed(event: BackgroundRemoved) -> None:
        await handlers.on_background_removed(event, dependencies())

    @event_subscriber(broker, kafka, GenerationRequested, group=group)
    async def on_generation_requested(event: GenerationRequested) -> None:
        await handlers.on_generation_requested(event, dependencies())
