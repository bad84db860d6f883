"""Events through the real Kafka-protocol broker into a running status service process, read back over
HTTP, and the model.status_changed it publishes read back from the broker."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from photo3d_common.broker import EventPublisher, create_broker
from photo3d_common.events import (
    BackgroundRemovalStarted,
    BackgroundRemoved,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    ModelStatusChanged,
    ParkedMessage,
    PhotoUploaded,
    Stage,
    StageProgressed,
)
from photo3d_common.settings import KafkaSettings

pytestmark = pytest.mark.e2e
VIEWS = ("front", "left", "right", "back")


async def wait_for_model(
    client: httpx.AsyncClient, model_id: str, status: str, until=lambda model: True, timeout: float = 60
) -> dict:
    """Poll until the model has ``status`` (and ``until(model)``): topics are consumed independently, so
    e.g. the cut-out keys of a late background.removed may land just after the status became completed."""
    deadline = time.monotonic() + timeout
    model: dict = {}
    while time.monotonic() < deadline:
        model = (await client.get(f"/api/models/{model_id}")).json()
        if model.get("status") == status and until(model):
            return model
        await asyncio.sleep(0.25)
    raise AssertionError(f"model stayed {model.get('status')!r}, expected {status!r}: {model}")


async def read_topic(bootstrap: str, topic: str, predicate, count: int, timeout: float = 30) -> list[dict]:
    """Messages of a topic from the start, without a consumer group (no join to wait for)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found.extend(m for m in (json.loads(r.value) for r in records) if predicate(m))
    finally:
        await consumer.stop()
    return found


async def test_events_from_kafka_drive_the_status_seen_over_http(
    service_process, infra_env, unused_port, kafka_bootstrap, kafka_topic_prefix
):
    service_process("photo3d_status", infra_env | {"STATUS_PORT": str(unused_port)}, port=unused_port)
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=kafka_topic_prefix)
    broker = create_broker(kafka, service="test")
    await broker.start()
    try:
        publish = EventPublisher(broker, kafka)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{unused_port}", timeout=20) as client:
            token = (await client.post("/api/dev/token", json={"user": "e2e-alice"})).json()["token"]
            client.headers["Authorization"] = f"Bearer {token}"
            model = (await client.post("/api/models", json={"name": "via kafka"})).json()
            doomed = (await client.post("/api/models", json={"name": "will fail"})).json()
            model_id, doomed_id = uuid.UUID(model["id"]), uuid.UUID(doomed["id"])

            keys = {v: f"models/{model_id}/originals/{v}" for v in VIEWS}
            events = [
                PhotoUploaded(
                    model_id=model_id,
                    producer="upload",
                    view=v,
                    object_key=keys[v],
                    content_type="image/jpeg",
                    width=640,
                    height=480,
                    size_bytes=1000,
                    sha256="0" * 64,
                    original_keys={w: keys[w] for w in VIEWS[: i + 1]},
                    all_views_uploaded=i == 3,
                    start_processing=i == 3,
                )
                for i, v in enumerate(VIEWS)
            ]
            for event in events:
                await publish(event)
            await wait_for_model(client, model["id"], "photos_uploaded")
            await publish(events[-1])  # a redelivery changes nothing

            # Each stage's events once the previous stage is visible, as the real workers do (a burst
            # would be fine too, but could skip generating_3d_model in the published history).
            await publish(BackgroundRemovalStarted(model_id=model_id, producer="bgremoval"))
            await wait_for_model(client, model["id"], "removing_background")
            await publish(
                StageProgressed(
                    model_id=model_id,
                    producer="bgremoval",
                    stage=Stage.BACKGROUND_REMOVAL,
                    progress=0.5,
                    detail="2 of 4 backgrounds removed",
                )
            )
            progressed = await wait_for_model(
                client, model["id"], "removing_background", until=lambda m: m["progress"] == 0.5
            )
            await publish(
                BackgroundRemoved(
                    model_id=model_id,
                    producer="bgremoval",
                    source_fingerprint="f",
                    cutout_keys={v: f"models/{model_id}/cutouts/{v}.png" for v in VIEWS},
                )
            )
            await wait_for_model(
                client, model["id"], "removing_background", until=lambda m: m["progress"] == 1.0
            )
            await publish(GenerationStarted(model_id=model_id, producer="generation", provider="local"))
            await wait_for_model(client, model["id"], "generating_3d_model")
            await publish(
                ModelGenerated(
                    model_id=model_id,
                    producer="generation",
                    provider="local",
                    vertex_count=500,
                    face_count=996,
                    asset_keys={"glb": f"models/{model_id}/assets/model.glb"},
                )
            )
            completed = await wait_for_model(client, model["id"], "completed")

            await publish(
                ModelFailed(
                    model_id=doomed_id,
                    producer="bgremoval",
                    stage=Stage.BACKGROUND_REMOVAL,
                    reason="no object found in the front photo",
                    error_code="empty_cutout",
                    retryable=True,
                )
            )
            failed = await wait_for_model(client, doomed["id"], "failed")
            await broker.publish(
                b"{not json", topic=kafka.topic(ModelGenerated.topic), key=str(model_id).encode()
            )
    finally:
        await broker.stop()

    assert progressed["stage_detail"] == "2 of 4 backgrounds removed"
    assert completed["assets"] == {"glb": f"models/{model_id}/assets/model.glb"}
    assert completed["cutouts"]["back"] == f"models/{model_id}/cutouts/back.png"
    assert completed["photos"] == keys and completed["provider"] == "local"
    assert (completed["vertex_count"], completed["face_count"], completed["progress"]) == (500, 996, 1.0)
    assert (failed["error_stage"], failed["error_message"], failed["error_retryable"]) == (
        "background_removal",
        "no object found in the front photo",
        True,
    )

    changes = await read_topic(
        kafka_bootstrap, kafka.topic(ModelStatusChanged.topic), lambda m: m["model_id"] == str(model_id), 6
    )
    assert [c["status"] for c in changes] == [
        "draft",
        "uploading_photos",
        "photos_uploaded",
        "removing_background",
        "generating_3d_model",
        "completed",
    ]
    assert all(c["owner"] == "e2e-alice" and c["producer"] == "status" for c in changes)
    parked = await read_topic(
        kafka_bootstrap,
        kafka.topic(ParkedMessage.topic),
        lambda m: m["parked_by"] == "status" and m["key"] == str(model_id),
        1,
    )
    assert parked and parked[0]["payload"] == "{not json"
