"""Kafka through FastStream: the broker factory, topic creation, the event publisher and the middleware
that binds the model id to log lines, waits out dependency outages and parks what can never be handled.

Delivery is at least once: a subscriber commits its offset after the handler returns (``AckPolicy.ACK``),
so a crash mid-handler means the message comes again; handlers are written to be idempotent.

Failures, as the middleware treats them:
- a dependency outage (S3, broker, database; ``errors.dependency_failure``) is retried without end, with
  capped, jittered backoff: the message is neither parked nor committed, so the subscriber's consumption
  pauses until the dependency is back and then resumes by itself;
- a message that can never succeed (it does not parse or validate, or its handler keeps failing with
  something that is not an outage) is parked on ``messages.parked``, and in a worker its model gets
  ``model.failed`` with a reason; both are published before the offset is committed, retried until the
  broker takes them (the uncommitted offset is the outbox: a crash meanwhile redelivers the message).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    TopicAlreadyExistsError,
    UnknownMemberIdError,
)
from aiokafka.structs import OffsetAndMetadata
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.security import parse_security
from faststream.middlewares import AckPolicy
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from faststream.specification import AsyncAPI
from pydantic import ValidationError

from photo3d_common import metrics
from photo3d_common.errors import BrokerUnavailable, Photo3DError, dependency_failure
from photo3d_common.events import ALL_TOPICS, Event, ParkedMessage, Stage
from photo3d_common.failures import STAGE_NAMES, failure_event
from photo3d_common.health import Health
from photo3d_common.logging import FailureBurst, get_logger
from photo3d_common.settings import KafkaSettings
from photo3d_common.wiring import Injector

log = get_logger(__name__)


_SASL_MECHANISMS: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


def _security(settings: KafkaSettings) -> BaseSecurity | None:
    """The broker connection's security from ``KAFKA_SECURITY_PROTOCOL`` and the SASL settings: TLS with the
    system's trusted certificates for the ``*SSL`` protocols, SASL with the configured mechanism."""
    tls = ssl.create_default_context() if settings.security_protocol in ("SSL", "SASL_SSL") else None
    if settings.security_protocol.startswith("SASL"):
        if not (settings.sasl_username and settings.sasl_password):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={settings.security_protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        mechanism = (settings.sasl_mechanism or "PLAIN").upper()
        if mechanism not in _SASL_MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM={mechanism} is not one of {', '.join(_SASL_MECHANISMS)}")
        return _SASL_MECHANISMS[mechanism](
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            ssl_context=tls,
            use_ssl=tls is not None,
        )
    return BaseSecurity(ssl_context=tls) if tls is not None else None


def create_broker(
    settings: KafkaSettings,
    *,
    service: str,
    failure_stage: Stage | None = None,
    health: Health | None = None,
    request_timeout_ms: int | None = None,
) -> KafkaBroker:
    """A broker for one service. Nothing connects until the app starts it.

    ``failure_stage``: the stage this service's subscribers run (workers); a message parked here fails its
    model at that stage. ``health``: told when a dependency goes down and comes back (readiness).
    ``request_timeout_ms`` overrides the setting for a service that only publishes (no group joins to wait
    for), so a publish to a dead broker fails fast."""
    broker = KafkaBroker(
        settings.bootstrap_servers,
        client_id=f"photo3d-{service}",
        request_timeout_ms=request_timeout_ms or settings.request_timeout_ms,
        security=_security(settings),
        enable_idempotence=settings.enable_idempotence,
        acks="all",
        description=f"photo3d {service} service",
        # on SIGTERM: stop fetching, let the message in hand finish (a deploy drains workers this way)
        graceful_timeout=settings.graceful_timeout_s,
        middlewares=(metrics.kafka_middleware(service),),
    )
    broker.add_middleware(
        _parking_middleware(broker, settings, service, failure_stage, health or Health(service))
    )
    return broker


def broker_check(broker: KafkaBroker, timeout_s: float = 2.0) -> Callable[[], Awaitable[None]]:
    """A readiness check: raises ``BrokerUnavailable`` unless the broker answers within ``timeout_s``."""

    async def check() -> None:
        if not await broker.ping(timeout_s):
            raise BrokerUnavailable(message="the message broker does not answer")

    return check


def subscriber_options(settings: KafkaSettings, *, group_id: str) -> dict[str, Any]:
    """Options every consumer uses: a durable group, start from the earliest unread, commit after handling."""
    return {
        "group_id": settings.group(group_id),
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.ACK,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": min(settings.heartbeat_interval_ms, settings.session_timeout_ms // 3),
        "fetch_max_wait_ms": min(settings.fetch_max_wait_ms, settings.request_timeout_ms // 2),
        # Generation can run for many minutes; the consumer must not be thrown out of the group meanwhile.
        "max_poll_interval_ms": 60 * 60 * 1000,
    }


EventHandler = Callable[..., Awaitable[Any]]


def subscribe_events(
    broker: KafkaBroker, settings: KafkaSettings, routes: Mapping[type[Event], EventHandler], *, group: str
) -> None:
    """ONE consumer in the group ``group`` over the topics of every routed event type; each message is
    validated as its topic's event and handed to that event's handler.

    Why one consumer per service and not one per topic: every consumer long-polls the broker all the time
    (``KAFKA_FETCH_MAX_WAIT_MS``), which is the system's fixed CPU cost (docs/capacity.md), and FastStream
    starts subscribers one after another, each waiting for its group join. All members of the group
    subscribe to the same topic set, which is what the broker handles well (docs/adr/0010)."""
    by_full_topic = {settings.topic(event.topic): (event, handle) for event, handle in routes.items()}
    subscriber: Callable[[Callable[..., Awaitable[None]]], Any] = broker.subscriber(
        *by_full_topic, include_in_schema=False, **subscriber_options(settings, group_id=group)
    )

    @subscriber
    async def on_event(body: dict[str, Any], message: KafkaMessage) -> None:
        raw: Any = message.raw_message  # one record (not a batch): this subscriber does not batch
        event_class, handle = by_full_topic[raw.topic]
        # A body that does not fit its schema raises ValidationError here: the middleware parks it.
        await handle(event_class.model_validate(body))


def document_subscriptions(
    broker: KafkaBroker, settings: KafkaSettings, events: Iterable[type[Event]], *, group: str, service: str
) -> None:
    """Per-topic AsyncAPI entries with their event schemas (operation ids ``on_<topic>``) for what
    ``subscribe_events`` reads through one consumer. Only for a broker that is never started."""
    for event_class in events:

        async def consume(event: Event) -> None:  # documentation only: never started
            raise NotImplementedError

        consume.__annotations__ = {"event": event_class, "return": None}
        consume.__name__ = f"on_{event_class.topic.replace('.', '_')}"
        broker.subscriber(
            settings.topic(event_class.topic),
            group_id=settings.group(group),
            title=f"{event_class.topic}:{service}",
        )(consume)


@dataclass(frozen=True)
class ServiceConsumer:
    """A service's Kafka side, declared once in its ``consumer`` module: the events it handles with their
    handlers (read through one consumer, ``subscribe_events``) and the events it publishes."""

    service: str
    routes: Mapping[type[Event], EventHandler]
    published: tuple[type[Event], ...]

    def register(
        self, broker: KafkaBroker, kafka: KafkaSettings, group: str, injector: Injector[Any]
    ) -> None:
        """``injector`` holds what the handlers name once the service started."""
        routes = {event: injector.inject(handle) for event, handle in self.routes.items()}
        subscribe_events(broker, kafka, routes, group=group)

    async def take_over_offsets(self, kafka: KafkaSettings, group: str) -> None:
        """At start, before the consumer: the offsets of the per-topic groups of earlier releases, where
        they are ahead (``hand_over_offsets``)."""
        await hand_over_offsets(kafka, group=group, topics=[event.topic for event in self.routes])

    def specification(self, kafka: KafkaSettings, group: str, *, title: str) -> AsyncAPI:
        """The AsyncAPI document: each consumed topic with its event schema, and what is published, from
        a broker that is never started (the live one reads all topics through one consumer, which
        FastStream cannot document per topic)."""
        documented = create_broker(kafka, service=self.service)
        self.document(documented, kafka, group)
        return AsyncAPI(documented, title=title, version="1.0.0")

    def document(self, broker: KafkaBroker, kafka: KafkaSettings, group: str) -> None:
        """Per-topic entries with their event schemas, and the published events, on ``broker`` (one that
        is never started: it exists for its AsyncAPI document)."""
        document_subscriptions(broker, kafka, self.routes, group=group, service=self.service)
        document_publishers(broker, kafka, self.published)


async def hand_over_offsets(settings: KafkaSettings, *, group: str, topics: Iterable[str]) -> None:
    """Carry the committed offsets of the per-topic groups of earlier releases (``<group>.<topic>``, ADR
    0001) over to the service's one group before its consumer starts: without them the new group would
    start from the earliest offset and run every stage again for every model the topics still hold.

    Per partition, an old group's offset is taken only where it is ahead of the service group's (or the
    service group has none), so this is safe at every start: once the service group has moved past the old
    groups there is nothing to commit. A commit the broker refuses because the group is already running
    (another instance joined first) is left alone. Offsets are read and written through consumers that
    never join their group (Tansu answers the admin client's offset listing in a form aiokafka cannot
    read)."""
    if not settings.hand_over_offsets:
        return
    topics = list(topics)
    partitions = await _partitions(settings, [settings.topic(topic) for topic in topics])
    async with _group_client(settings, group) as service_client:
        current = await _committed(service_client, [tp for tps in partitions.values() for tp in tps])
        ahead: dict[TopicPartition, int] = {}
        for topic in topics:
            async with _group_client(settings, f"{group}.{topic}") as old_client:
                old = await _committed(old_client, partitions[settings.topic(topic)])
            ahead |= {tp: offset for tp, offset in old.items() if offset > current.get(tp, -1)}
        if not ahead:
            return
        service_client.assign(list(ahead))
        try:
            await service_client.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in ahead.items()})
        except _GROUP_IS_RUNNING as error:
            log.warning("consumer offsets not handed over: the group is running", error=type(error).__name__)
            return
    log.info(
        "consumer offsets handed over",
        group=settings.group(group),
        offsets={f"{tp.topic}:{tp.partition}": offset for tp, offset in sorted(ahead.items())},
    )


_GROUP_IS_RUNNING = (
    CommitFailedError,
    IllegalGenerationError,
    UnknownMemberIdError,
    RebalanceInProgressError,
)


async def _partitions(settings: KafkaSettings, full_topics: list[str]) -> dict[str, list[TopicPartition]]:
    """Each topic's partitions, from the broker's metadata; a topic that does not exist raises."""
    async with _admin_client(settings) as admin:
        described = {entry["topic"]: entry for entry in await admin.describe_topics(full_topics)}
    partitions: dict[str, list[TopicPartition]] = {}
    for topic in full_topics:
        entry = described.get(topic)
        if entry is None or entry["error_code"] != 0 or not entry["partitions"]:
            raise BrokerUnavailable(message=f"the topic {topic} has no partitions on the broker")
        partitions[topic] = [TopicPartition(topic, p["partition"]) for p in entry["partitions"]]
    return partitions


@contextlib.asynccontextmanager
async def _admin_client(settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id="photo3d-admin", **_client_security(settings)
    )
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def _group_client(settings: KafkaSettings, group: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of ``group`` that never subscribes: it reads and commits the group's offsets only."""
    client = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.group(group),
        enable_auto_commit=False,
        client_id="photo3d-admin",
        request_timeout_ms=settings.request_timeout_ms,
        **_client_security(settings),
    )
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def _committed(
    client: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    offsets = {tp: await client.committed(tp) for tp in partitions}
    return {tp: offset for tp, offset in offsets.items() if offset is not None and offset >= 0}


def _client_security(settings: KafkaSettings) -> dict[str, Any]:
    """The broker's security as aiokafka options, for the clients that are not FastStream's."""
    return parse_security(_security(settings))


class EventPublisher:
    """Publishes events keyed by model id to their topic (with the run's topic prefix)."""

    def __init__(self, broker: KafkaBroker, settings: KafkaSettings) -> None:
        self.broker = broker
        self.settings = settings

    async def __call__(self, event: Event) -> None:
        await self.broker.publish(
            event.model_dump(mode="json"),
            topic=self.settings.topic(event.topic),
            key=event.kafka_key,
            headers={
                "event-type": type(event).__name__,
                "event-id": str(event.event_id),
                "schema-version": str(event.schema_version),
            },
        )
        metrics.STAGE_CLOCK.published(event)
        log.debug("published", topic=event.topic, event_id=str(event.event_id), model_id=str(event.model_id))


def document_publishers(broker: KafkaBroker, settings: KafkaSettings, events: Iterable[type[Event]]) -> None:
    """Declare what this service publishes, so the AsyncAPI document lists it with its schema."""
    for event in events:
        broker.publisher(settings.topic(event.topic), schema=event, title=f"{event.topic}:publish")


async def ensure_topics(settings: KafkaSettings, names: Iterable[str] = ALL_TOPICS) -> None:
    """Create the topics with the configured partition count; existing ones are left as they are."""
    if not settings.create_topics:
        return
    async with _admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=full, num_partitions=settings.partitions, replication_factor=settings.replication_factor
            )
            for full in (settings.topic(name) for name in names)
            if full not in existing
        ]
        if not wanted:
            return
        with contextlib.suppress(TopicAlreadyExistsError):  # another service created them meanwhile
            await admin.create_topics(wanted)
        log.info("topics created", topics=[t.name for t in wanted], partitions=settings.partitions)


def _model_id_from(message: Any) -> str | None:
    raw = getattr(message, "raw_message", None)
    key = getattr(raw, "key", None)
    if isinstance(key, bytes):
        return key.decode("utf-8", errors="replace")
    return key


def _header(raw: Any, name: str) -> str | None:
    for key, value in getattr(raw, "headers", None) or ():
        if key == name:
            return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
    return None


class UnreadableRequest(Photo3DError):
    """A stage's trigger could not be read (parked for an operator); a re-run sends a new, valid one."""

    code = "unreadable_request"
    retryable = True


_DECODE_ERRORS = (ValidationError, json.JSONDecodeError, UnicodeDecodeError)
_PARKED_NAMESPACE = uuid.UUID("5d4f4a43-7c59-4c3e-9a0b-70686f746f33")


class Backoff:
    """Capped exponential backoff with jitter (full jitter around the capped value, 0.5x-1.5x)."""

    def __init__(self, first_s: float, max_s: float) -> None:
        self.first_s, self.max_s, self.attempt = first_s, max_s, 0

    def next_delay(self) -> float:
        self.attempt += 1
        backoff: float = self.first_s * 2.0 ** (self.attempt - 1)
        return min(self.max_s, backoff) * random.uniform(0.5, 1.5)


def _parking_middleware(
    broker: KafkaBroker, settings: KafkaSettings, service: str, failure_stage: Stage | None, health: Health
) -> type[BaseMiddleware]:
    attempts = settings.handler_attempts

    async def until_published(what: str, publish: Callable[[], Awaitable[Any]]) -> None:
        """Publish, waiting out a broker outage; give up only on an error no retry can fix."""
        backoff, burst = Backoff(settings.retry_first_delay_s, settings.retry_max_delay_s), None
        while True:
            try:
                await publish()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                down = dependency_failure(error)
                if down is None:
                    log.exception(f"{what} could not be published", error=f"{type(error).__name__}: {error}")
                    return
                burst = burst or FailureBurst(log, f"{what} not published yet ({down.dependency} is down)")
                burst.failed(error)
                await asyncio.sleep(backoff.next_delay())
                continue
            if burst is not None:
                burst.recovered()
            return

    async def park(message: Any, error: BaseException, tries: int) -> None:
        raw = getattr(message, "raw_message", None)
        body = getattr(message, "body", b"")
        parked = ParkedMessage(
            parked_by=service,
            source_topic=getattr(raw, "topic", "unknown"),
            partition=getattr(raw, "partition", None),
            offset=getattr(raw, "offset", None),
            key=_model_id_from(message),
            payload=body.decode("utf-8", errors="replace") if isinstance(body, bytes) else json.dumps(body),
            error=f"{type(error).__name__}: {error}"[:4000],
            attempts=tries,
        )
        metrics.MESSAGES_PARKED.labels(source_topic=parked.source_topic).inc()
        log.error(
            "message parked",
            source_topic=parked.source_topic,
            offset=parked.offset,
            error=parked.error,
            parked_topic=ParkedMessage.topic,
        )
        await until_published(
            "parked message",
            lambda: broker.publish(
                parked.model_dump(mode="json"),
                topic=settings.topic(ParkedMessage.topic),
                key=(parked.key or "").encode(),
            ),
        )
        await fail_model(parked, error)

    async def fail_model(parked: ParkedMessage, error: BaseException) -> None:
        """The model whose trigger was parked ends its stage with a reason instead of waiting forever."""
        if failure_stage is None or parked.key is None:
            return
        try:
            model_id = uuid.UUID(parked.key)
        except ValueError:
            return  # not keyed by a model id: nobody to tell
        reason = error
        if isinstance(error, _DECODE_ERRORS):
            reason = UnreadableRequest(
                f"{STAGE_NAMES[failure_stage]} could not read its request (kept for an operator); retry"
            )
        failed = failure_event(reason, failure_stage, model_id=model_id, producer=service)
        # The same parked message fails its model once, however often it is redelivered.
        where = f"{parked.source_topic}:{parked.partition}:{parked.offset}"
        failed = failed.model_copy(update={"event_id": uuid.uuid5(_PARKED_NAMESPACE, where)})
        topic = settings.topic(failed.topic)
        await until_published(
            "model.failed",
            lambda: broker.publish(failed.model_dump(mode="json"), topic=topic, key=failed.kafka_key),
        )

    class ParkingMiddleware(BaseMiddleware):
        """Binds ``model_id`` (the Kafka key) to log lines; waits out dependency outages (see the module
        docstring); retries another failing handler a few times, then parks its message. A message that
        does not parse is parked at once: retrying cannot fix it."""

        async def on_receive(self) -> None:
            raw = getattr(self.msg, "raw_message", self.msg)
            self._log_tokens = structlog.contextvars.bind_contextvars(
                model_id=_model_id_from(self.msg),
                event_id=_header(raw, "event-id"),
                topic=getattr(raw, "topic", None),
            )

        async def consume_scope(self, call_next: Any, msg: Any) -> Any:
            consumer = getattr(msg, "consumer", None)
            metrics.observe_consumed(msg, getattr(consumer, "_group_id", None))
            failures = 0
            backoff = Backoff(settings.retry_first_delay_s, settings.retry_max_delay_s)
            burst: FailureBurst | None = None
            while True:
                try:
                    result = await call_next(msg)
                except _DECODE_ERRORS as error:
                    await park(msg, error, failures + 1)
                    return None
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    down = dependency_failure(error)
                    if down is not None:
                        health.dependency_down(down)
                        burst = burst or FailureBurst(log, f"{down.dependency} is unavailable")
                        burst.failed(error, code=down.code, model_id=_model_id_from(msg))
                        await asyncio.sleep(backoff.next_delay())
                        continue
                    failures += 1
                    if failures >= attempts:
                        log.exception("handler failed, giving up", attempt=failures)
                        await park(msg, error, failures)
                        return None
                    delay = min(10.0, 0.5 * 2 ** (failures - 1)) * random.uniform(0.5, 1.5)
                    log.warning(
                        "handler failed, retrying",
                        attempt=failures,
                        delay_s=round(delay, 2),
                        error=str(error),
                    )
                    await asyncio.sleep(delay)
                    continue
                if burst is not None:
                    burst.recovered()
                health.dependencies_up()
                return result

        async def after_processed(
            self, exc_type: Any = None, exc_val: Any = None, exc_tb: Any = None
        ) -> bool:
            try:
                if exc_val is not None and isinstance(exc_val, (*_DECODE_ERRORS, ValueError)):
                    # Raised while decoding, before any handler ran.
                    await park(self.msg, exc_val, 1)
                    return True
                return False
            finally:
                structlog.contextvars.reset_contextvars(**self._log_tokens)

    return ParkingMiddleware
