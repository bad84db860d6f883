"""One consumer per service (docs/adr/0010): each topic's message reaches its own handler as its own event
type, a body that does not fit its topic's schema is parked, and every worker joins ONE group over all of
its trigger topics while its AsyncAPI document still lists each topic with its schema."""

from __future__ import annotations

import uuid

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.subscriber.usecase import LogicSubscriber as KafkaSubscriber

from photo3d_common.broker import (
    EventHandler,
    EventPublisher,
    ServiceConsumer,
    create_broker,
    subscribe_events,
    subscriber_options,
)
from photo3d_common.events import BackgroundRemovalRequested, Event, ParkedMessage, PhotoUploaded
from photo3d_common.settings import KafkaSettings
from photo3d_common.wiring import Injector

SETTINGS = KafkaSettings(topic_prefix="unit-consumers.", handler_attempts=2)


def _wire() -> tuple[KafkaBroker, list[tuple[str, Event]], list[ParkedMessage]]:
    broker = create_broker(SETTINGS, service="test")
    handled: list[tuple[str, Event]] = []
    parked: list[ParkedMessage] = []

    async def on_photos_uploaded(event: PhotoUploaded) -> None:
        handled.append(("uploaded", event))

    async def on_removal_requested(event: BackgroundRemovalRequested) -> None:
        handled.append(("requested", event))

    routes: dict[type[Event], EventHandler] = {
        PhotoUploaded: on_photos_uploaded,
        BackgroundRemovalRequested: on_removal_requested,
    }
    subscribe_events(broker, SETTINGS, routes, group="photo3d-test")

    @broker.subscriber(SETTINGS.topic(ParkedMessage.topic), **subscriber_options(SETTINGS, group_id="parked"))
    async def on_parked(message: ParkedMessage) -> None:
        parked.append(message)

    return broker, handled, parked


async def test_each_topic_reaches_its_own_handler_as_its_own_event():
    broker, handled, parked = _wire()
    uploaded = PhotoUploaded(
        model_id=uuid.uuid4(),
        producer="test",
        view="front",
        object_key="k",
        content_type="image/jpeg",
        width=8,
        height=8,
        size_bytes=1,
        sha256="x",
        original_keys={"front": "k"},
        all_views_uploaded=False,
        start_processing=False,
    )
    requested = BackgroundRemovalRequested(
        model_id=uuid.uuid4(), producer="test", original_keys={}, requested_by="u"
    )
    async with TestKafkaBroker(broker) as test_broker:
        publish = EventPublisher(test_broker, SETTINGS)
        await publish(uploaded)
        await publish(requested)
    assert handled == [("uploaded", uploaded), ("requested", requested)]
    assert not parked


async def test_a_body_that_does_not_fit_its_topic_is_parked():
    broker, handled, parked = _wire()
    async with TestKafkaBroker(broker) as test_broker:
        # a valid removal request, on the topic of uploads: it is not an upload
        body = BackgroundRemovalRequested(
            model_id=uuid.uuid4(), producer="test", original_keys={}, requested_by="u"
        ).model_dump(mode="json")
        await test_broker.publish(body, topic=SETTINGS.topic(PhotoUploaded.topic), key=b"k")
    assert handled == []
    assert [p.source_topic for p in parked] == [SETTINGS.topic(PhotoUploaded.topic)]


def _worker(service: str) -> ServiceConsumer:
    if service == "bgremoval":
        from photo3d_bgremoval.consumer import CONSUMER as bgremoval

        return bgremoval
    from photo3d_generation.consumer import CONSUMER as generation

    return generation


@pytest.mark.parametrize("service", ["bgremoval", "generation"])
def test_a_worker_reads_all_its_trigger_topics_through_one_consumer(service: str):
    worker, group = _worker(service), f"photo3d-{service}"
    broker = KafkaBroker()
    worker.register(broker, SETTINGS, group, Injector())
    (subscriber,) = broker.subscribers
    assert isinstance(subscriber, KafkaSubscriber)
    assert subscriber.group_id == SETTINGS.group(group)
    assert set(subscriber.topic_names) == {SETTINGS.topic(event.topic) for event in worker.routes}
    assert len(worker.routes) == 2


@pytest.mark.parametrize("service", ["bgremoval", "generation"])
def test_a_workers_asyncapi_document_lists_each_topic_with_its_schema(service: str):
    worker = _worker(service)
    document = (
        worker.specification(SETTINGS, f"photo3d-{service}", title=service).to_specification().to_jsonable()
    )
    addresses = {channel["address"] for channel in document["channels"].values()}
    documented = (*worker.routes, *worker.published)
    assert addresses == {SETTINGS.topic(event.topic) for event in documented}
    assert {event.__name__ for event in documented} <= set(document["components"]["schemas"])
