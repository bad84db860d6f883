"""``on_<topic>`` subscribers: thin adapters from Kafka messages to the handlers."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from photo3d_common.broker import subscriber_options
from photo3d_common.events import BackgroundRemovalRequested, PhotoUploaded

from . import handlers
from .resources import Resources


def register_subscribers(broker: KafkaBroker, resources: Resources) -> None:
    kafka = resources.settings.kafka
    options = subscriber_options(kafka, group_id=resources.settings.group_id)

    @broker.subscriber(kafka.topic(PhotoUploaded.topic), **options)
    async def on_photos_uploaded(event: PhotoUploaded) -> None:
        await handlers.on_photo_uploaded(event, **resources.handler_dependencies())

    @broker.subscriber(kafka.topic(BackgroundRemovalRequested.topic), **options)
    async def on_background_removal_requested(event: BackgroundRemovalRequested) -> None:
        await handlers.on_removal_requested(event, **resources.handler_dependencies())
