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

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.kafka import KafkaBroker, KafkaMessage

from photo3d_common.broker import document_publishers, subscriber_options
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
Handler = Callable[..., Awaitable[Any]]

#: topic -> (event class, handler): every topic that affects a model's status.
ROUTES: dict[str, tuple[type[Event], Handler]] = {
    PhotoUploaded.topic: (PhotoUploaded, handlers.on_photos_uploaded),
    BackgroundRemovalStarted.topic: (BackgroundRemovalStarted, handlers.on_background_removal_started),
    StageProgressed.topic: (StageProgressed, handlers.on_stage_progressed),
    BackgroundRemoved.topic: (BackgroundRemoved, handlers.on_background_removed),
    GenerationStarted.topic: (GenerationStarted, handlers.on_generation_started),
    ModelGenerated.topic: (ModelGenerated, handlers.on_model_generated),
    ModelFailed.topic: (ModelFailed, handlers.on_model_failed),
}
CONSUMED: tuple[type[Event], ...] = tuple(event for event, _ in ROUTES.values())
PUBLISHED = (ModelStatusChanged,)


def register_consumers(broker: KafkaBroker, settings: KafkaSettings, injector: Injector[Any]) -> None:
    """``injector`` holds what the handlers name (``repository``, ``publish``) once the service started."""
    by_full_topic = {
        settings.topic(name): (event_class, injector.inject(handle))
        for name, (event_class, handle) in ROUTES.items()
    }

    subscriber: Callable[[Callable[..., Awaitable[None]]], Any] = broker.subscriber(
        *by_full_topic, include_in_schema=False, **subscriber_options(settings, group_id=GROUP_ID)
    )

    @subscriber
    async def on_status_event(body: dict[str, Any], message: KafkaMessage) -> None:
        raw: Any = message.raw_message  # one record (not a batch): this subscriber does not batch
        event_class, handle = by_full_topic[raw.topic]
        # A body that does not fit its schema raises ValidationError here: the middleware parks it.
        await handle(event_class.model_validate(body))


def document_consumers(broker: KafkaBroker, settings: KafkaSettings) -> None:
    """Per-topic entries with their event schemas, for the AsyncAPI document of a broker never started."""
    for name, (event_class, _) in ROUTES.items():

        async def consume(event: Event) -> None:  # documentation only: never started
            raise NotImplementedError

        consume.__annotations__ = {"event": event_class, "return": None}
        consume.__name__ = f"on_{name.replace('.', '_')}"
        broker.subscriber(settings.topic(name), group_id=settings.group(GROUP_ID), title=f"{name}:status")(
            consume
        )


def document_published(broker: KafkaBroker, settings: KafkaSettings) -> None:
    document_publishers(broker, settings, PUBLISHED)
