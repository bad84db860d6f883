"""``on_<topic>`` subscribers: thin adapters from Kafka messages to the handlers."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from photo3d_common.broker import event_subscriber
from photo3d_common.events import BackgroundRemovalRequested, PhotoUploaded
from photo3d_common.settings import KafkaSettings
from photo3d_common.wiring import Injector

from . import handlers
from .bootstrap import Deps


def register_subscribers(
    broker: KafkaBroker, kafka: KafkaSettings, group: str, injector: Injector[Deps]
) -> None:
    on_photo_uploaded = injector.inject(handlers.on_photo_uploaded)
    on_removal_requested = injector.inject(handlers.on_removal_requested)

    # The function names are the AsyncAPI operation ids (docs/asyncapi/).
    @event_subscriber(broker, kafka, PhotoUploaded, group=group)
    async def on_photos_uploaded(event: PhotoUploaded) -> None:
        await on_photo_uploaded(event)

    @event_subscriber(broker, kafka, BackgroundRemovalRequested, group=group)
    async def on_background_removal_requested(event: BackgroundRemovalRequested) -> None:
        await on_removal_requested(event)
