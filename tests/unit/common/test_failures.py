"""Failure classification (outage or failure of the work), the one model.failed builder, and the broker
middleware that waits out outages and fails the model of a parked trigger, on the in-memory broker."""

import logging
import uuid

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from botocore.exceptions import ClientError, EndpointConnectionError
from faststream.kafka import TestKafkaBroker

from photo3d_common.broker import create_broker, subscriber_options
from photo3d_common.errors import (
    BrokerUnavailable,
    DatabaseUnavailable,
    InvalidInput,
    Photo3DError,
    StorageUnavailable,
    dependency_failure,
)
from photo3d_common.events import BackgroundRemovalStarted, ModelFailed, ParkedMessage, Stage
from photo3d_common.failures import failure_event
from photo3d_common.health import Health
from photo3d_common.logging import FailureBurst, RepeatFilter
from photo3d_common.settings import KafkaSettings

SETTINGS = KafkaSettings(
    topic_prefix="unit.", handler_attempts=2, retry_first_delay_s=0.01, retry_max_delay_s=0.02
)


def _s3_error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )


def test_outages_are_told_apart_from_failures_of_the_work():
    import asyncpg

    assert isinstance(
        dependency_failure(EndpointConnectionError(endpoint_url="http://s3")), StorageUnavailable
    )
    assert isinstance(dependency_failure(_s3_error(503, "ServiceUnavailable")), StorageUnavailable)
    assert isinstance(dependency_failure(KafkaConnectionError("no broker")), BrokerUnavailable)
    assert isinstance(dependency_failure(asyncpg.CannotConnectNowError("starting")), DatabaseUnavailable)
    assert dependency_failure(ConnectionRefusedError(111, "refused")) is not None
    # wrapped: the cause decides
    outer = RuntimeError("while storing the cut-out")
    outer.__cause__ = EndpointConnectionError(endpoint_url="http://s3")
    assert isinstance(dependency_failure(outer), StorageUnavailable)
    # the work's own failures
    assert dependency_failure(_s3_error(403, "AccessDenied")) is None
    assert dependency_failure(_s3_error(404, "NoSuchKey")) is None
    assert dependency_failure(MessageSizeTooLargeError()) is None
    assert dependency_failure(InvalidInput("bad photo")) is None
    assert dependency_failure(ValueError("bug")) is None


def test_failure_event_keeps_a_photo3d_errors_reason_code_and_retryability():
    model_id = uuid.uuid4()
    error = Photo3DError("the left photo is missing", code="photo_missing", detail={"view": "left"})
    failed = failure_event(error, Stage.BACKGROUND_REMOVAL, model_id=model_id, producer="bgremoval")
    assert (failed.reason, failed.error_code, failed.retryable) == (
        "the left photo is missing",
        "photo_missing",
        False,
    )
    assert failed.detail == '{"view": "left"}' and failed.stage is Stage.BACKGROUND_REMOVAL

    unexpected = failure_event(KeyError("k"), Stage.GENERATION, model_id=model_id, producer="generation")
    assert unexpected.error_code == "internal_error" and unexpected.retryable
    assert unexpected.reason == "3D generation failed unexpectedly; try again in a moment"


def test_provider_errors_are_photo3d_errors_with_the_technical_message_as_str():
    from photo3d_generation.providers.errors import ProviderTimeout, ProviderUnavailable

    error = ProviderUnavailable("HTTP 502 from /v3", provider="tencent")
    assert isinstance(error, Photo3DError) and error.retryable and error.code == "provider_unavailable"
    assert str(error) == "HTTP 502 from /v3" and "unreachable" in error.user_message
    failed = failure_event(ProviderTimeout(600), Stage.GENERATION, model_id=uuid.uuid4(), producer="g")
    assert failed.error_code == "provider_timeout" and failed.retryable and "10 min" in failed.reason


def _wire(handler, *, failure_stage=None, health=None):
    broker = create_broker(SETTINGS, service="test", failure_stage=failure_stage, health=health)
    received, parked, failed = [], [], []

    @broker.subscriber(
        SETTINGS.topic(BackgroundRemovalStarted.topic), **subscriber_options(SETTINGS, group_id="g")
    )
    async def on_background_removal_started(event: BackgroundRemovalStarted) -> None:
        await handler(event, received)

    @broker.subscriber(SETTINGS.topic(ParkedMessage.topic), **subscriber_options(SETTINGS, group_id="p"))
    async def on_parked(message: ParkedMessage) -> None:
        parked.append(message)

    @broker.subscriber(SETTINGS.topic(ModelFailed.topic), **subscriber_options(SETTINGS, group_id="f"))
    async def on_failed(message: ModelFailed) -> None:
        failed.append(message)

    return broker, received, parked, failed


async def test_an_outage_is_waited_out_never_parked():
    calls = []
    health = Health("test")

    async def flaky(event, received):
        calls.append(event)
        if len(calls) <= 5:  # more than handler_attempts: an outage is not counted against the message
            raise EndpointConnectionError(endpoint_url="http://s3")
        received.append(event)

    broker, received, parked, failed = _wire(flaky, failure_stage=Stage.BACKGROUND_REMOVAL, health=health)
    event = BackgroundRemovalStarted(model_id=uuid.uuid4(), producer="test")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            event.model_dump(mode="json"), topic=SETTINGS.topic(event.topic), key=event.kafka_key
        )
    assert len(calls) == 6 and received == [event]
    assert not parked and not failed
    assert not health.waiting_on  # recovered


async def test_a_parked_trigger_fails_its_model_once_with_a_reason():
    model_id = uuid.uuid4()
    broker, received, parked, failed = _wire(lambda e, r: None, failure_stage=Stage.BACKGROUND_REMOVAL)
    async with TestKafkaBroker(broker) as test_broker:
        for _ in range(2):  # the same message redelivered (same partition and offset in memory)
            await test_broker.publish(
                {"model_id": "garbage"},
                topic=SETTINGS.topic(BackgroundRemovalStarted.topic),
                key=str(model_id).encode(),
            )
    assert received == [] and len(parked) == 2
    assert {f.model_id for f in failed} == {model_id}
    assert len({f.event_id for f in failed}) == 1  # one failure, however often redelivered
    first = failed[0]
    assert first.error_code == "unreadable_request" and first.retryable
    assert first.stage is Stage.BACKGROUND_REMOVAL and "could not read its request" in first.reason


async def test_without_a_stage_a_parked_message_fails_no_model():
    broker, _, parked, failed = _wire(lambda e, r: None)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            b"{not json", topic=SETTINGS.topic(BackgroundRemovalStarted.topic), key=str(uuid.uuid4()).encode()
        )
    assert len(parked) == 1 and not failed


def test_repeat_filter_passes_the_first_and_counts_the_rest(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("photo3d_common.logging.time.monotonic", lambda: clock[0])
    repeat = RepeatFilter(window_s=60)

    def record() -> logging.LogRecord:
        return logging.LogRecord(
            "aiokafka.conn", logging.ERROR, "f", 1, "Unable connect to %s", ("node-1",), None
        )

    assert repeat.filter(record())
    passed = []
    for _ in range(500):
        clock[0] += 0.1
        passed.append(repeat.filter(record()))
    assert not any(passed)  # 50 s of repeats: silent
    clock[0] += 20
    summary = record()
    assert repeat.filter(summary)
    assert summary.getMessage() == "Unable connect to node-1 [repeated 500 more times in 70 s]"
    ours = logging.LogRecord("photo3d_common.broker", logging.ERROR, "f", 1, "x", None, None)
    assert repeat.filter(ours) and repeat.filter(ours)  # our own lines are never filtered


def test_failure_burst_logs_one_line_per_burst_and_one_traceback_per_error(monkeypatch):
    lines = []

    class Recorder:
        def error(self, message, **fields):
            lines.append(("error", message, fields.get("exc_info") is not None, fields.get("attempts")))

        def warning(self, message, **fields):
            lines.append(("warning", message, False, fields.get("attempts")))

    clock = [0.0]
    monkeypatch.setattr("photo3d_common.logging.time.monotonic", lambda: clock[0])
    error = EndpointConnectionError(endpoint_url=f"http://s3-{uuid.uuid4().hex}")
    burst = FailureBurst(Recorder(), "the object store is unavailable", every_s=60)
    for _ in range(100):
        clock[0] += 1
        burst.failed(error)
    burst.recovered()
    again = FailureBurst(Recorder(), "the object store is unavailable", every_s=60)
    again.failed(error)
    assert lines == [
        ("error", "the object store is unavailable: waiting", True, None),
        ("error", "the object store is unavailable: still waiting", False, 61),
        ("warning", "the object store is unavailable: recovered", False, 100),
        ("error", "the object store is unavailable: waiting", False, None),  # traceback shown once
    ]


@pytest.mark.parametrize(("path", "status"), [("/health", 200), ("/ready", 503), ("/nope", 404)])
async def test_probe_server_answers(path, status, unused_port):
    import httpx

    from photo3d_common.health import probe_server

    async def storage_down() -> None:
        raise StorageUnavailable(message="the object store is unavailable")

    health = Health("test")
    async with (
        probe_server(health, unused_port, host="127.0.0.1", checks={"storage": storage_down}),
        httpx.AsyncClient() as client,
    ):
        response = await client.get(f"http://127.0.0.1:{unused_port}{path}")
    assert response.status_code == status
    if path == "/ready":
        assert response.json()["dependencies"]["storage"].startswith("error: StorageUnavailable")


def test_a_decided_failure_raised_from_a_timeout_is_no_outage() -> None:
    """A stage's own deadline (``raise GenerationFailure(...) from None`` inside ``except TimeoutError``) is a
    failure of the work: the model fails, nobody waits for a dependency that never was down."""
    from photo3d_common.errors import Photo3DError, dependency_failure

    decided = Photo3DError("generation timed out after 10 min", code="generation_timeout")
    decided.__context__, decided.__suppress_context__ = TimeoutError(), True  # raised ... from None
    assert dependency_failure(decided) is None
