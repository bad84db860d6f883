"""The Kafka wiring on FastStream's in-memory broker: every status topic reaches the handler, and an applied
status change is published as model.status_changed keyed by the model id. The store here is an in-memory
stand-in built on the real domain; the Postgres repository has its own integration tests."""

from __future__ import annotations

import dataclasses
import uuid

import asyncpg
from faststream.kafka import KafkaMessage, TestKafkaBroker

from photo3d_common.broker import EventPublisher
from photo3d_common.events import (
    BackgroundRemovalStarted,
    Event,
    ModelFailed,
    ModelStatus,
    ModelStatusChanged,
    ParkedMessage,
    PhotoUploaded,
    Stage,
)
from photo3d_common.settings import KafkaSettings
from photo3d_common.wiring import Injector
from photo3d_status import domain
from photo3d_status.app import asyncapi_document, build_broker
from photo3d_status.consumer import CONSUMER
from photo3d_status.repository import ApplyResult, status_changed_event_id

SETTINGS = KafkaSettings(
    topic_prefix="unit-status.", handler_attempts=2, retry_first_delay_s=0.01, retry_max_delay_s=0.05
)


class InMemoryStore:
    def __init__(self, *models: domain.ModelState) -> None:
        self.models = {m.id: m for m in models}
        self.seen: set[uuid.UUID] = set()
        self.outbox: list[ModelStatusChanged] = []
        self.applied: list[Event] = []

    async def apply(self, event: Event) -> ApplyResult:
        if event.event_id in self.seen:
            return ApplyResult("duplicate", "event already handled")
        self.seen.add(event.event_id)
        self.applied.append(event)
        current = self.models.get(event.model_id)
        decision = domain.decide(current, event)
        if not isinstance(decision, domain.Applied):
            return ApplyResult(decision.outcome, decision.reason, current and current.status)
        self.models[event.model_id] = decision.new
        if decision.new.status != current.status:
            self.outbox.append(
                ModelStatusChanged(
                    event_id=status_changed_event_id(event.event_id, event.model_id, decision.new.status),
                    model_id=event.model_id,
                    producer="status",
                    owner=current.owner,
                    previous_status=current.status,
                    status=decision.new.status,
                    progress=decision.new.progress,
                    cause_event_id=event.event_id,
                    cause_topic=event.topic,
                )
            )
        return ApplyResult("applied", decision.note, current.status, decision.new.status)

    async def flush_outbox(self, publish) -> int:
        sent = 0
        while self.outbox:
            await publish(self.outbox[0])
            self.outbox.pop(0)
            sent += 1
        return sent


class Deps:
    def __init__(self, store: InMemoryStore, publisher: EventPublisher | None = None) -> None:
        self.repository = store
        self.publisher = publisher

    async def publish(self, event: ModelStatusChanged) -> None:
        assert self.publisher is not None
        await self.publisher(event)


def wire(*models: domain.ModelState):
    store = InMemoryStore(*models)
    deps = Deps(store)
    broker = build_broker(SETTINGS, Injector(deps))
    changes: list[tuple[ModelStatusChanged, bytes]] = []
    parked: list[ParkedMessage] = []

    @broker.subscriber(SETTINGS.topic(ModelStatusChanged.topic), group_id="observer")
    async def on_model_status_changed(event: ModelStatusChanged, message: KafkaMessage) -> None:
        changes.append((event, message.raw_message.key))

    @broker.subscriber(SETTINGS.topic(ParkedMessage.topic), group_id="observer-parked")
    async def on_parked(message: ParkedMessage) -> None:
        parked.append(message)

    return broker, deps, store, changes, parked


def draft(**fields) -> domain.ModelState:
    return domain.ModelState(id=uuid.uuid4(), owner="alice", name="mug", status=ModelStatus.DRAFT, **fields)


async def test_every_consumed_topic_has_a_subscriber():
    broker, *_ = wire()
    topics = {topic for sub in broker.subscribers for topic in sub.topic_names}
    assert {SETTINGS.topic(e.topic) for e in CONSUMER.routes} <= topics


async def test_applied_event_publishes_status_change_keyed_by_model():
    model = draft()
    broker, deps, store, changes, parked = wire(model)
    event = PhotoUploaded(
        model_id=model.id,
        producer="upload",
        view="front",
        object_key="k",
        content_type="image/png",
        width=1,
        height=1,
        size_bytes=1,
        sha256="0",
        original_keys={"front": "k"},
        all_views_uploaded=False,
        start_processing=False,
    )
    async with TestKafkaBroker(broker) as test_broker:
        deps.publisher = EventPublisher(test_broker, SETTINGS)
        await deps.publisher(event)
        await deps.publisher(event)  # redelivery: no second change
    assert store.models[model.id].status == ModelStatus.UPLOADING_PHOTOS
    assert [(c.previous_status, c.status, c.cause_event_id) for c, _ in changes] == [
        (ModelStatus.DRAFT, ModelStatus.UPLOADING_PHOTOS, event.event_id)
    ]
    assert changes[0][1] == str(model.id).encode()
    assert not parked


async def test_rejected_transition_publishes_nothing():
    model = dataclasses.replace(draft(), status=ModelStatus.COMPLETED)
    broker, deps, store, changes, parked = wire(model)
    async with TestKafkaBroker(broker) as test_broker:
        deps.publisher = EventPublisher(test_broker, SETTINGS)
        await deps.publisher(BackgroundRemovalStarted(model_id=model.id, producer="bgremoval"))
    assert store.models[model.id].status == ModelStatus.COMPLETED
    assert len(store.applied) == 1 and not changes and not parked


async def test_failure_event_reaches_the_model():
    model = dataclasses.replace(draft(), status=ModelStatus.GENERATING_3D_MODEL)
    broker, deps, store, changes, _ = wire(model)
    async with TestKafkaBroker(broker) as test_broker:
        deps.publisher = EventPublisher(test_broker, SETTINGS)
        await deps.publisher(
            ModelFailed(
                model_id=model.id,
                producer="generation",
                stage=Stage.GENERATION,
                reason="timed out",
                error_code="timeout",
                retryable=True,
            )
        )
    assert store.models[model.id].error_message == "timed out"
    assert [c.status for c, _ in changes] == [ModelStatus.FAILED]


async def test_unparseable_message_is_parked():
    broker, _deps, store, _changes, parked = wire()
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish({"model_id": "nope"}, topic=SETTINGS.topic("model.generated"), key=b"nope")
    assert store.applied == [] and len(parked) == 1 and parked[0].parked_by == "status"


async def test_one_consumer_in_the_status_group_reads_every_status_topic():
    broker, *_ = wire()
    status_subscribers = [s for s in broker.subscribers if s.group_id == SETTINGS.group("photo3d-status")]
    assert len(status_subscribers) == 1


def test_asyncapi_document_lists_each_topic_with_its_schema():
    document = asyncapi_document(SETTINGS)
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {SETTINGS.topic(e.topic) for e in (*CONSUMER.routes, ModelStatusChanged)}
    assert {e.__name__ for e in (*CONSUMER.routes, ModelStatusChanged)} <= set(
        document["components"]["schemas"]
    )


async def test_handler_failure_is_retried_then_parked():
    model = draft()
    broker, deps, store, _changes, parked = wire(model)

    async def broken(event):
        raise RuntimeError("a bug in the handler")

    store.apply = broken
    async with TestKafkaBroker(broker) as test_broker:
        deps.publisher = EventPublisher(test_broker, SETTINGS)
        await deps.publisher(BackgroundRemovalStarted(model_id=model.id, producer="bgremoval"))
    assert len(parked) == 1 and parked[0].attempts == SETTINGS.handler_attempts
    assert "a bug in the handler" in parked[0].error


async def test_database_outage_is_waited_out_not_parked():
    model = draft()
    broker, deps, store, _changes, parked = wire(model)
    real_apply = store.apply
    failures = [
        asyncpg.PostgresConnectionError("db down"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    ]

    async def flaky(event):
        if failures:
            raise failures.pop(0)
        return await real_apply(event)

    store.apply = flaky
    async with TestKafkaBroker(broker) as test_broker:
        deps.publisher = EventPublisher(test_broker, SETTINGS)
        await deps.publisher(BackgroundRemovalStarted(model_id=model.id, producer="bgremoval"))
    assert not failures and parked == []
    assert store.models[model.id].status == ModelStatus.REMOVING_BACKGROUND
