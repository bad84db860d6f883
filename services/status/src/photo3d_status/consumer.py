"""The Kafka side of the status service: ONE consumer for every topic that affects a status, dispatching
each message by topic to its ``handlers.on_<topic>`` function.

Why one consumer and not one per topic: aiokafka's consumer start waits for its group assignment, and
FastStream starts subscribers one after another, so seven subscribers in the group ``photo3d-status``
meant seven successive joins, each rebalancing the ones already running (measured: ~25 s to start
against Tansu, longer on Kafka's default timeouts, and a stop-the-world rebalance of every status
instance on each start). One consumer joins once, and reads a model's events of all topics through one
fetch loop, which also keeps cross-topic reordering small (the domain tolerates what remains).

The AsyncAPI document still lists each topic with its event schema (``document_consumers``).
Decision record: docs/adr/0002-one-status-consumer-for-all-topics.md.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from photo3d_common.broker import EventHandler, document_publishers, document_subscriptions, subscribe_events
from photo3d_common.events import (
    BackgroundRemovalStarted,
    BackgroundRemoved,
    Event,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    ModelStatusChanged,
    PhotoUploaded,
    StageProgressed,
)
from photo3d_common.settings import KafkaSettings
from photo3d_common.wiring import Injector
from photo3d_status import handlers

GROUP_ID = "photo3d-status"

#: event -> handler: every event that affects a model's status.
ROUTES: dict[type[Event], EventHandler] = {
    PhotoUploaded: handlers.on_photos_uploaded,
    BackgroundRemovalStarted: handlers.on_background_removal_started,
    StageProgressed: handlers.on_stage_progressed,
    BackgroundRemoved: handlers.on_background_removed,
    GenerationStarted: handlers.on_generation_started,
    ModelGenerated: handlers.on_model_generated,
    ModelFailed: handlers.on_model_failed,
}
CONSUMED: tuple[type[Event], ...] = tuple(ROUTES)
PUBLISHED = (ModelStatusChanged,)


def register_consumers(broker: KafkaBroker, settings: KafkaSettings, injector: Injector[Any]) -> None:
    """``injector`` holds what the handlers name (``repository``, ``publish``) once the service started."""
    routes = {event: injector.inject(handle) for event, handle in ROUTES.items()}
    subscribe_events(broker, settings, routes, group=GROUP_ID)


def document_consumers(broker: KafkaBroker, settings: KafkaSettings) -> None:
    """Per-topic entries with their event schemas, for the AsyncAPI document of a broker never started."""
    document_subscriptions(broker, settings, ROUTES, group=GROUP_ID, service="status")


def document_published(broker: KafkaBroker, settings: KafkaSettings) -> None:
    document_publishers(broker, settings, PUBLISHED)
