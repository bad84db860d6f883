"""Kafka through FastStream: the broker factory, topic creation, the event publisher and the middleware
that binds the model id to log lines and parks what cannot be handled.

Delivery is at least once: a subscriber commits its offset after the handler returns (``AckPolicy.ACK``),
so a crash mid-handler means the message comes again; handlers are written to be idempotent.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from faststream.security import SASLPlaintext
from pydantic import ValidationError

from photo3d_common import metrics
from photo3d_common.events import ALL_TOPICS, Event, ParkedMessage
from photo3d_common.logging import get_logger
from photo3d_common.settings import KafkaSettings

log = get_logger(__name__)

Publish = Callable[[Event], Awaitable[None]]


def _security(settings: KafkaSettings) -> Any:
    if settings.sasl_username and settings.sasl_password:
        return SASLPlaintext(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            use_ssl=settings.security_protocol == "SASL_SSL",
        )
    return None


def create_broker(settings: KafkaSettings, *, service: str) -> KafkaBroker:
    """A broker for one service. Nothing connects until the app starts it."""
    broker = KafkaBroker(
        settings.bootstrap_servers,
        client_id=f"photo3d-{service}",
        security=_security(settings),
        enable_idempotence=settings.enable_idempotence,
        acks="all",
        description=f"photo3d {service} service",
        # on SIGTERM: stop fetching, let the message in hand finish (a deploy drains workers this way)
        graceful_timeout=settings.graceful_timeout_s,
        middlewares=(metrics.kafka_middleware(service),),
    )
    broker.add_middleware(_parking_middleware(broker, settings, service))
    return broker


def subscriber_options(settings: KafkaSettings, *, group_id: str) -> dict[str, Any]:
    """Options every consumer uses: a durable group, start from the earliest unread, commit after handling."""
    return {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.ACK,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": min(settings.heartbeat_interval_ms, settings.session_timeout_ms // 3),
        # Generation can run for many minutes; the consumer must not be thrown out of the group meanwhile.
        "max_poll_interval_ms": 60 * 60 * 1000,
    }


def event_subscriber(broker: KafkaBroker, settings: KafkaSettings, event: type[Event], *, group: str) -> Any:
    """Decorator: the subscriber of one event type's topic, in a consumer group of its own,
    ``<group>.<topic>`` (every instance of a service shares it, so the partitions are split among them).

    Why a group per topic: members of one group that subscribe to different topics rebalance each other
    on every join, and the Kafka-protocol broker used locally (Tansu 0.6) was seen leaving a later
    subscriber of such a group waiting for its assignment forever. One topic per group avoids both."""
    return broker.subscriber(
        settings.topic(event.topic), **subscriber_options(settings, group_id=f"{group}.{event.topic}")
    )


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
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="photo3d-admin")
    await admin.start()
    try:
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
        try:
            await admin.create_topics(wanted)
        except TopicAlreadyExistsError:
            pass  # another service created them between our list and create
        log.info("topics created", topics=[t.name for t in wanted], partitions=settings.partitions)
    finally:
        await admin.close()


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


def _parking_middleware(broker: KafkaBroker, settings: KafkaSettings, service: str) -> type[BaseMiddleware]:
    attempts = settings.handler_attempts

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
        await broker.publish(
            parked.model_dump(mode="json"),
            topic=settings.topic(ParkedMessage.topic),
            key=(parked.key or "").encode(),
        )

    class ParkingMiddleware(BaseMiddleware):
        """Binds ``model_id`` (the Kafka key) to log lines; retries a failing handler a few times with
        backoff, then parks the message on ``messages.parked`` instead of crashing or blocking the
        partition. A message that does not parse is parked at once: retrying cannot fix it."""

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
            for attempt in range(1, attempts + 1):
                try:
                    return await call_next(msg)
                except (ValidationError, json.JSONDecodeError, UnicodeDecodeError) as error:
                    await park(msg, error, attempt)
                    return None
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    if attempt == attempts:
                        log.exception("handler failed, giving up", attempt=attempt)
                        await park(msg, error, attempt)
                        return None
                    delay = min(10.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
                    log.warning(
                        "handler failed, retrying", attempt=attempt, delay_s=round(delay, 2), error=str(error)
                    )
                    await asyncio.sleep(delay)
            return None

        async def after_processed(
            self, exc_type: Any = None, exc_val: Any = None, exc_tb: Any = None
        ) -> bool:
            try:
                if exc_val is not None and isinstance(
                    exc_val, (ValidationError, json.JSONDecodeError, UnicodeDecodeError, ValueError)
                ):
                    # Raised while decoding, before any handler ran.
                    await park(self.msg, exc_val, 1)
                    return True
                return False
            finally:
                structlog.contextvars.reset_contextvars(**self._log_tokens)

    return ParkingMiddleware
