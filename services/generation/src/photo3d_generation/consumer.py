"""``on_<topic>`` subscribers: thin adapters from Kafka messages to the handlers."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from photo3d_common.broker import event_subscriber
from photo3d_common.events import BackgroundRemoved, GenerationRequested
from photo3d_common.settings import KafkaSettings
from photo3d_common.wiring import Injector

from . import handlers
from .bootstrap import Deps


def register_subscribers(
    broker: KafkaBroker, kafka: KafkaSettings, group: str, injector: Injector[Deps]
) -> None:
    generate_after_removal = injector.inject(handlers.on_background_removed)
    generate_on_request = injector.inject(handlers.on_generation_requested)

    # The function names are the AsyncAPI operation ids (docs/asyncapi/).
    @event_subscriber(broker, kafka, BackgroundRemoved, group=group)
    async def on_background_removed(event: BackgroundRemoved) -> None:
        await generate_after_removal(event)

    @event_subscriber(broker, kafka, GenerationRequested, group=group)
    async def on_generation_requested(event: GenerationRequested) -> None:
        await generate_on_request(event)
