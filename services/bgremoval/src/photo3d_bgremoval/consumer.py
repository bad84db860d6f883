"""``on_<topic>`` subscribers: thin adapters from Kafka messages to the handlers."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from photo3d_common.broker import event_subscriber
from photo3d_common.events import BackgroundRemovalRequested, PhotoUploaded

from . import handlers
from .resources import Resources


def register_subscribers(broker: KafkaBroker, resources: Resources) -> None:
    kafka, group = resources.settings.kafka, resources.settings.group_id

    @event_subscriber(broker, kafka, PhotoUploaded, group=group)
    async def on_photos_uploaded(event: PhotoUploaded) -> None:
        await handlers.on_photo_uploaded(event, **resources.handler_dependencies())

    @event_subscriber(broker, kafka, BackgroundRemovalRequested, group=group)
    async def on_background_removal_requested(event: BackgroundRemovalRequested) -> None:
        await handlers.on_removal_requested(event, **resources.handler_dependencies())
