"""The broker plumbing every service relies on, on FastStream's in-memory TestKafkaBroker."""

import json
import uuid
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker

from photo3d_common.broker import EventPublisher, create_broker, subscriber_options
from photo3d_common.events import BackgroundRemovalStarted, ParkedMessage
from photo3d_common.settings import KafkaSettings

SETTINGS = KafkaSettings(topic_prefix="unit.", handler_attempts=2)


def _wire(handler):
    broker = create_broker(SETTINGS, service="test")
    received, parked = [], []

    @broker.subscriber(
        SETTINGS.topic(BackgroundRemovalStarted.topic), **subscriber_options(SETTINGS, group_id="g")
    )
    async def on_background_removal_started(event: BackgroundRemovalStarted) -> None:
        await handler(event, received)

    @broker.subscriber(SETTINGS.topic(ParkedMessage.topic), **subscriber_options(SETTINGS, group_id="p"))
    async def on_parked(message: ParkedMessage) -> None:
        parked.append(message)

    return broker, received, parked


async def _record(event, received):
    received.append(event)


async def test_published_event_arrives_typed_and_keyed_by_model_id():
    broker, received, parked = _wire(_record)
    event = BackgroundRemovalStarted(model_id=uuid.uuid4(), producer="test")
    async with TestKafkaBroker(broker) as test_broker:
        await EventPublisher(test_broker, SETTINGS)(event)
    assert received == [event]
    assert not parked


async def test_malformed_message_is_parked_not_raised():
    broker, received, parked = _wire(_record)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            {"model_id": "not-a-uuid", "producer": "x"},
            topic=SETTINGS.topic(BackgroundRemovalStarted.topic),
            key=b"abc",
        )
    assert received == []
    assert len(parked) == 1
    assert parked[0].source_topic == SETTINGS.topic(BackgroundRemovalStarted.topic)
    assert parked[0].key == "abc"
    assert json.loads(parked[0].payload)["model_id"] == "not-a-uuid"
    assert "ValidationError" in parked[0].error


async def test_failing_handler_is_retried_then_parked():
    calls = []

    async def explode(event, received):
        calls.append(event)
        raise RuntimeError("storage is down")

    broker, _, parked = _wire(explode)
    event = BackgroundRemovalStarted(model_id=uuid.uuid4(), producer="test")
    async with TestKafkaBroker(broker) as test_broker:
        await EventPublisher(test_broker, SETTINGS)(event)
    assert len(calls) == SETTINGS.handler_attempts
    assert len(parked) == 1 and parked[0].attempts == SETTINGS.handler_attempts
    assert "storage is down" in parked[0].error


def test_broker_security_follows_the_protocol_setting():
    from faststream.security import SASLPlaintext, SASLScram512
    from pydantic import SecretStr

    from photo3d_common.broker import _client_security, _security

    assert _security(KafkaSettings()) is None
    tls_only = _security(KafkaSettings(security_protocol="SSL"))
    assert tls_only is not None and tls_only.use_ssl and tls_only.ssl_context is not None
    sasl: dict[str, Any] = {"sasl_username": "svc", "sasl_password": SecretStr("secret")}
    plain = _security(KafkaSettings(security_protocol="SASL_PLAINTEXT", **sasl))
    assert isinstance(plain, SASLPlaintext) and not plain.use_ssl
    scram = _security(KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", **sasl))
    assert isinstance(scram, SASLScram512) and scram.use_ssl and scram.ssl_context is not None
    options = _client_security(KafkaSettings(security_protocol="SASL_SSL", **sasl))
    assert options["security_protocol"] == "SASL_SSL" and options["ssl_context"] is not None
    with pytest.raises(ValueError, match="KAFKA_SASL_USERNAME"):
        _security(KafkaSettings(security_protocol="SASL_SSL"))
