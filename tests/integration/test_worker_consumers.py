"""The worker services as FastStream apps (composition root, subscribers, lifespan): the same tests on
FastStream's in-memory TestKafkaBroker and on the real Kafka-protocol broker (Tansu)."""

import asyncio
import io
import uuid
from pathlib import Path

import pytest
from faststream.kafka import TestApp, TestKafkaBroker
from PIL import Image, ImageDraw

from photo3d_bgremoval.app import create_app as create_bgremoval
from photo3d_bgremoval.remover import BackgroundRemovalSettings
from photo3d_bgremoval.settings import BgRemovalServiceSettings
from photo3d_common.broker import EventPublisher, subscriber_options
from photo3d_common.events import (
    VIEWS,
    BackgroundRemovalStarted,
    BackgroundRemoved,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    PhotoUploaded,
)
from photo3d_common.settings import KafkaSettings
from photo3d_common.storage import ObjectStorage, cutout_key, original_key
from photo3d_generation.app import create_app as create_generation
from photo3d_generation.settings import GenerationServiceSettings, LocalSettings
from tests.support.photos import make_photo

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["memory", "kafka"])
def kafka_settings(request, kafka_topic_prefix) -> KafkaSettings:
    prefix = f"{kafka_topic_prefix}{uuid.uuid4().hex[:6]}."
    if request.param == "memory":
        return KafkaSettings(topic_prefix=prefix, create_topics=False, hand_over_offsets=False)
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    return KafkaSettings(
        bootstrap_servers=bootstrap, topic_prefix=prefix, session_timeout_ms=6000, partitions=1
    )


def _capture(app, kafka: KafkaSettings, *events) -> list:
    received: list = []
    capture_id = uuid.uuid4().hex[:6]
    for event in events:
        # a group per topic: on Tansu, one group over subscribers of different topics can leave one of
        # them waiting for its assignment while the others run
        options = subscriber_options(kafka, group_id=f"capture-{capture_id}-{event.topic}")

        @app.broker.subscriber(kafka.topic(event.topic), **options)
        async def capture(message: event) -> None:  # type: ignore[valid-type]
            received.append(message)

    return received


async def _until(received: list, kind: type, timeout: float = 120) -> object:
    async with asyncio.timeout(timeout):
        while not any(isinstance(e, kind) for e in received):  # noqa: ASYNC110 - a subscriber fills the list
            await asyncio.sleep(0.1)
    return next(e for e in received if isinstance(e, kind))


async def _run(app, kafka: KafkaSettings, trigger, *until: type) -> list:
    received = _capture(
        app,
        kafka,
        BackgroundRemovalStarted,
        BackgroundRemoved,
        GenerationStarted,
        ModelGenerated,
        ModelFailed,
    )
    if kafka.bootstrap_servers == KafkaSettings().bootstrap_servers and not kafka.create_topics:
        async with TestKafkaBroker(app.broker), TestApp(app):
            await EventPublisher(app.broker, kafka)(trigger)
            for kind in until:
                await _until(received, kind)
    else:
        async with TestApp(app):
            await EventPublisher(app.broker, kafka)(trigger)
            for kind in until:
                await _until(received, kind)
    return received


def _box(colour) -> bytes:
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle([50, 20, 149, 179], fill=(*colour, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def test_generation_worker_turns_background_removed_into_model_generated(
    kafka_settings, common_s3_settings
):
    model_id = uuid.uuid4()
    async with ObjectStorage(common_s3_settings) as storage:
        keys = {view: cutout_key(model_id, view) for view in VIEWS}
        for view in VIEWS:
            await storage.put_bytes(keys[view], _box((200, 60, 60)), content_type="image/png")
    settings = GenerationServiceSettings(
        kafka=kafka_settings,
        s3=common_s3_settings,
        local=LocalSettings(voxel_resolution=32, target_faces=500),
    )
    app = create_generation(settings)
    trigger = BackgroundRemoved(model_id=model_id, producer="test", cutout_keys=keys, source_fingerprint="f")

    # GenerationStarted's own consumer may trail ModelGenerated's: wait for both
    received = await _run(app, kafka_settings, trigger, ModelGenerated, GenerationStarted)

    assert [type(e) for e in received if isinstance(e, GenerationStarted)] == [GenerationStarted]
    done = next(e for e in received if isinstance(e, ModelGenerated))
    assert done.model_id == model_id and done.asset_keys["glb"].endswith("/assets/model.glb")


async def test_bgremoval_worker_turns_a_complete_upload_into_background_removed(
    kafka_settings, common_s3_settings
):
    from photo3d_bgremoval import model_files

    model_dir = ROOT / "var" / "models" / "u2net"
    model_files.install(model_dir)
    model_id = uuid.uuid4()
    async with ObjectStorage(common_s3_settings) as storage:
        keys = {view: original_key(model_id, view) for view in VIEWS}
        for i, view in enumerate(VIEWS):
            await storage.put_bytes(
                keys[view], make_photo("vase", size=(480, 360), seed=i).jpeg(), content_type="image/jpeg"
            )
    settings = BgRemovalServiceSettings(
        kafka=kafka_settings,
        s3=common_s3_settings,
        removal=BackgroundRemovalSettings(model_dir=model_dir, max_side_px=480),
    )
    app = create_bgremoval(settings)
    trigger = PhotoUploaded(
        model_id=model_id,
        producer="test",
        view="back",
        object_key=keys["back"],
        content_type="image/jpeg",
        width=480,
        height=360,
        size_bytes=1,
        sha256="x",
        original_keys=keys,
        all_views_uploaded=True,
        start_processing=True,
    )

    received = await _run(app, kafka_settings, trigger, BackgroundRemoved)

    done = next(e for e in received if isinstance(e, BackgroundRemoved))
    assert set(done.cutout_keys) == set(VIEWS)
    assert not [e for e in received if isinstance(e, ModelFailed)]
