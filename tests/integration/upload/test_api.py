"""API tests of the upload service against the real status service, Kafka (Tansu), S3 (SeaweedFS) and Postgres: both
services run as ``python -m`` processes, as in production, on a topic prefix of their own."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from PIL import Image

from photo3d_common.auth import mint_dev_token
from photo3d_common.events import (
    ALL_TOPICS,
    VIEWS,
    BackgroundRemovalRequested,
    BackgroundRemovalStarted,
    GenerationRequested,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    PhotoUploaded,
    Stage,
)
from photo3d_common.settings import AuthSettings
from tests.infra import TEST_JWT_SECRET, ServiceProcesses, free_port

UPLOAD_MAX_BYTES = 2 * 1024 * 1024


def token(user: str) -> str:
    return mint_dev_token(AuthSettings(jwt_secret=TEST_JWT_SECRET), user)


def jpeg(size: tuple[int, int] = (640, 480), seed: int = 0, **options: Any) -> bytes:
    image = Image.effect_noise(size, 30 + seed).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, **options)
    return out.getvalue()


@dataclass
class EventLog:
    """Every message on this run's topics, read from the start by a group-less consumer."""

    prefix: str
    records: list[Any] = field(default_factory=list)

    def of(self, model_id: str, topic: str) -> list[dict[str, Any]]:
        return [
            json.loads(record.value)
            for record in sorted(self.records, key=lambda r: (r.partition, r.offset))
            if record.topic == self.prefix + topic and record.key == model_id.encode()
        ]

    async def wait_for(
        self, model_id: str, topic: str, count: int, timeout: float = 20
    ) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found := self.of(model_id, topic)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"{len(found)} of {count} {topic} events for {model_id} after {timeout}s"
                )
            await asyncio.sleep(0.1)
        return found


@dataclass
class Stack:
    upload_url: str
    status_url: str
    events: EventLog
    s3: Any  # the boto3 client of tests/infra.py's S3Settings
    bucket: str
    publish: Any  # async (event) -> None, straight to Kafka, as the workers would
    kafka_bootstrap: str

    def client(self, user: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token(user)}"} if user else {}
        return httpx.AsyncClient(base_url=self.upload_url, headers=headers, timeout=30)

    def status_client(self, user: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.status_url, headers={"Authorization": f"Bearer {token(user)}"}, timeout=30
        )

    async def create_model(self, user: str, **body: Any) -> str:
        async with self.status_client(user) as client:
            response = await client.post("/api/models", json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def model(self, user: str, model_id: str) -> dict[str, Any]:
        async with self.status_client(user) as client:
            response = await client.get(f"/api/models/{model_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def wait_for_status(
        self, user: str, model_id: str, status: str, timeout: float = 30
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while (model := await self.model(user, model_id))["status"] != status:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"model {model_id} is {model['status']}, not {status}, after {timeout}s")
            await asyncio.sleep(0.2)
        return model

    def stored_keys(self, prefix: str) -> list[str]:
        response = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for item in response.get("Contents", [])]

    def stored(self, key: str) -> tuple[bytes, dict[str, Any]]:
        response = self.s3.get_object(Bucket=self.bucket, Key=key)
        return response["Body"].read(), response


@pytest.fixture(scope="module")
async def stack(infra_env, kafka_topic_prefix, s3_settings, request) -> AsyncIterator[Stack]:
    prefix = f"{kafka_topic_prefix}upload."
    status_port, upload_port = free_port(), free_port()
    env = {**infra_env, "KAFKA_TOPIC_PREFIX": prefix}
    processes = ServiceProcesses(request.node.nodeid)
    try:
        processes("photo3d_status", env | {"STATUS_PORT": str(status_port)}, port=status_port)
        processes(
            "photo3d_upload",
            env
            | {
                "UPLOAD_PORT": str(upload_port),
                "UPLOAD_STATUS_URL": f"http://127.0.0.1:{status_port}",
                "UPLOAD_MAX_BYTES": str(UPLOAD_MAX_BYTES),
            },
            port=upload_port,
        )
        consumer = AIOKafkaConsumer(
            *(prefix + topic for topic in ALL_TOPICS),
            bootstrap_servers=infra_env["KAFKA_BOOTSTRAP_SERVERS"],
            group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=infra_env["KAFKA_BOOTSTRAP_SERVERS"])
        await producer.start()
        log = EventLog(prefix)

        async def collect() -> None:
            async for record in consumer:
                log.records.append(record)

        collector = asyncio.create_task(collect())

        async def publish(event: Any) -> None:
            await producer.send_and_wait(
                prefix + event.topic, event.model_dump_json().encode(), key=event.kafka_key
            )

        try:
            yield Stack(
                upload_url=f"http://127.0.0.1:{upload_port}",
                status_url=f"http://127.0.0.1:{status_port}",
                events=log,
                s3=s3_settings.client(),
                bucket=s3_settings.bucket,
                publish=publish,
                kafka_bootstrap=infra_env["KAFKA_BOOTSTRAP_SERVERS"],
            )
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector
            await consumer.stop()
            await producer.stop()
    finally:
        processes.stop_all()


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


async def upload(
    client: httpx.AsyncClient,
    model_id: str,
    view: str,
    data: bytes,
    name: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return await client.post(
        "/api/upload-photo",
        data={"model_id": model_id, "view": view},
        files={"file": (name, data, content_type)},
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# --- the happy path ----------------------------------------------------------------------------------------


async def test_four_concurrent_uploads_complete_the_set_once(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user, name="mug", provider="local")
    async with stack.client(user) as client:
        responses = await asyncio.gather(
            *(upload(client, model_id, view, jpeg(seed=i)) for i, view in enumerate(VIEWS))
        )
    for view, response in zip(VIEWS, responses, strict=True):
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["model_id"] == model_id and body["view"] == view
        assert body["key"] == f"models/{model_id}/originals/{view}"
        assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 640, 480)
    assert sum(r.json()["all_views_uploaded"] for r in responses) == 1

    events = await stack.events.wait_for(model_id, "photos.uploaded", 4)
    await asyncio.sleep(1)  # nothing more may come
    events = stack.events.of(model_id, "photos.uploaded")
    assert len(events) == 4
    assert sorted(e["view"] for e in events) == sorted(VIEWS)
    # in publish order (one partition per model): the set grows by one each time; the last one completes it
    assert [len(e["original_keys"]) for e in events] == [1, 2, 3, 4]
    assert [e["all_views_uploaded"] for e in events] == [False, False, False, True]
    assert [e["start_processing"] for e in events] == [False, False, False, True]
    assert all(e["provider"] == "local" and e["producer"] == "upload" for e in events)
    assert events[-1]["original_keys"] == {v: f"models/{model_id}/originals/{v}" for v in VIEWS}

    model = await stack.wait_for_status(user, model_id, "photos_uploaded")
    assert model["photos"] == {v: f"models/{model_id}/originals/{v}" for v in VIEWS}
    for view in VIEWS:
        data, response = stack.stored(f"models/{model_id}/originals/{view}")
        assert response["ContentType"] == "image/jpeg"
        assert response["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()


async def test_replacing_a_view_overwrites_it_and_never_restarts_processing(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user)
    first, second = jpeg(seed=1), jpeg((800, 600), seed=2)
    async with stack.client(user) as client:
        assert (await upload(client, model_id, "front", first)).status_code == 201
        replaced = await upload(client, model_id, "front", second)
        assert replaced.status_code == 201, replaced.text
        assert replaced.json()["views_stored"] == ["front"] and (
            replaced.json()["width"],
            replaced.json()["height"],
        ) == (800, 600)
        assert stack.stored(f"models/{model_id}/originals/front")[0] == second
        for view in VIEWS[1:]:
            assert (await upload(client, model_id, view, jpeg(seed=3))).status_code == 201
        await stack.wait_for_status(user, model_id, "photos_uploaded")
        again = await upload(client, model_id, "left", jpeg(seed=4))
        assert again.status_code == 201 and again.json()["all_views_uploaded"] is True
    events = await stack.events.wait_for(model_id, "photos.uploaded", 6)
    assert [e["view"] for e in events] == ["front", "front", "left", "right", "back", "left"]
    assert [e["start_processing"] for e in events] == [False, False, False, False, True, False]
    assert events[-1]["all_views_uploaded"] is True
    await asyncio.sleep(1)
    assert (await stack.model(user, model_id))["status"] == "photos_uploaded"


async def test_exif_rotated_photo_is_stored_upright(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user)
    exif = Image.Exif()
    exif[0x0112] = 6
    async with stack.client(user) as client:
        response = await upload(client, model_id, "front", jpeg((640, 480), exif=exif.tobytes()))
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (480, 640)
    data, _ = stack.stored(f"models/{model_id}/originals/front")
    stored = Image.open(io.BytesIO(data))
    assert stored.size == (480, 640) and stored.getexif().get(0x0112, 1) == 1


async def test_heic_is_stored_as_jpeg(stack: Stack):
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.effect_noise((512, 512), 40).convert("RGB").save(out, format="HEIF", quality=80)
    user = new_user()
    model_id = await stack.create_model(user)
    async with stack.client(user) as client:
        response = await upload(client, model_id, "back", out.getvalue(), "IMG_0001.HEIC", "image/heic")
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/jpeg"
    data, stored = stack.stored(f"models/{model_id}/originals/back")
    assert data[:3] == b"\xff\xd8\xff" and stored["ContentType"] == "image/jpeg"
    assert stored["Metadata"]["source-format"] == "HEIF"
    (event,) = await stack.events.wait_for(model_id, "photos.uploaded", 1)
    assert event["content_type"] == "image/jpeg" and event["sha256"] == hashlib.sha256(data).hexdigest()


# --- refusals: a clear error, nothing stored, nothing published ----------------------------------------------


async def assert_nothing_stored(stack: Stack, model_id: str) -> None:
    await asyncio.sleep(0.5)
    assert stack.stored_keys(f"models/{model_id}/") == []
    assert stack.events.of(model_id, "photos.uploaded") == []


async def test_oversize_streamed_upload_is_413_and_nothing_stored(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user)
    boundary = "photo3d-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model_id"\r\n\r\n{model_id}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="view"\r\n\r\nfront\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    sent = 0

    async def body():  # chunked, no Content-Length: the limit must hold while streaming
        nonlocal sent
        yield head
        for _ in range(4 * UPLOAD_MAX_BYTES // 65536):
            sent += 65536
            yield b"\xff" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    async with stack.client(user) as client:
        response = await client.post(
            "/api/upload-photo",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code == 413, response.text
        assert error_of(response)["code"] == "file_too_large"
        assert "2 MB" in error_of(response)["message"]
        # announced too big: refused before the body is read
        announced = await upload(client, model_id, "front", b"\xff" * (UPLOAD_MAX_BYTES + 200_000))
        assert announced.status_code == 413
        # a file just over the limit with a small form around it: the exact check
        just_over = await upload(client, model_id, "front", jpeg() + b"\0" * (UPLOAD_MAX_BYTES))
        assert just_over.status_code == 413
    await assert_nothing_stored(stack, model_id)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"hello, this is not a photo\n" * 40, 415, "unsupported_image_type"),
        (None, 422, "image_corrupt"),  # truncated JPEG
        (None, 422, "image_too_small"),
    ],
    ids=["text-named-jpg", "truncated-jpeg", "too-small"],
)
async def test_bad_photo_is_refused_and_nothing_stored(stack: Stack, data, status, code):
    if code == "image_corrupt":
        data = jpeg()[:20_000]
    elif code == "image_too_small":
        data = jpeg((200, 200))
    user = new_user()
    model_id = await stack.create_model(user)
    async with stack.client(user) as client:
        response = await upload(client, model_id, "front", data, "photo.jpg", "image/jpeg")
    assert response.status_code == status, response.text
    assert error_of(response)["code"] == code
    await assert_nothing_stored(stack, model_id)


async def test_unknown_view_and_bad_model_id(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user)
    async with stack.client(user) as client:
        top = await upload(client, model_id, "top", jpeg())
        bad_id = await upload(client, "not-a-uuid", "front", jpeg())
        no_file = await client.post(
            "/api/upload-photo", data={"model_id": model_id, "view": "front"}, files={"other": ("x", b"y")}
        )
    assert top.status_code == 422 and error_of(top)["code"] == "invalid_view"
    assert "front, left, right, back" in error_of(top)["message"]
    assert bad_id.status_code == 422 and error_of(bad_id)["code"] == "invalid_model_id"
    assert no_file.status_code == 400 and error_of(no_file)["code"] == "validation_error"
    (problem,) = error_of(no_file)["detail"]  # one problem with the form body: its missing file
    assert problem["key"] == "data" and "file" in problem["message"]
    await assert_nothing_stored(stack, model_id)


async def test_another_users_model_and_a_missing_model_are_404(stack: Stack):
    owner = new_user()
    model_id = await stack.create_model(owner)
    async with stack.client(new_user()) as intruder:
        theirs = await upload(intruder, model_id, "front", jpeg())
        missing = await upload(intruder, str(uuid.uuid4()), "front", jpeg())
        rerun = await intruder.post("/api/remove-background", json={"model_id": model_id})
    for response in (theirs, missing, rerun):
        assert response.status_code == 404, response.text
        assert error_of(response)["code"] == "model_not_found"
    await assert_nothing_stored(stack, model_id)


async def test_no_or_bad_token_is_401(stack: Stack):
    model_id = await stack.create_model(new_user())
    async with stack.client() as anonymous:
        missing = await upload(anonymous, model_id, "front", jpeg())
        forged = await anonymous.post(
            "/api/upload-photo",
            data={"model_id": model_id, "view": "front"},
            files={"file": ("a.jpg", jpeg(), "image/jpeg")},
            headers={"Authorization": "Bearer not-a-token"},
        )
        rerun = await anonymous.post("/api/generate-model", json={"model_id": model_id})
    for response in (missing, forged, rerun):
        assert response.status_code == 401, response.text
        assert error_of(response)["code"] == "unauthenticated"
    await assert_nothing_stored(stack, model_id)


async def upload_all(stack: Stack, user: str, model_id: str) -> None:
    async with stack.client(user) as client:
        for view in VIEWS:
            response = await upload(client, model_id, view, jpeg(seed=len(view)))
            assert response.status_code == 201, response.text
    await stack.wait_for_status(user, model_id, "photos_uploaded")


async def test_upload_into_a_processing_model_is_409(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user)
    await upload_all(stack, user, model_id)
    before = stack.stored(f"models/{model_id}/originals/front")[0]
    await stack.publish(BackgroundRemovalStarted(model_id=uuid.UUID(model_id), producer="bgremoval"))
    await stack.wait_for_status(user, model_id, "removing_background")
    async with stack.client(user) as client:
        response = await upload(client, model_id, "front", jpeg(seed=9))
        rerun = await client.post("/api/remove-background", json={"model_id": model_id})
        generate = await client.post("/api/generate-model", json={"model_id": model_id})
    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "model_processing"
    assert "background removal is running" in error_of(response)["message"]
    assert stack.stored(f"models/{model_id}/originals/front")[0] == before
    assert rerun.status_code == 409 and "already running" in error_of(rerun)["message"]
    assert (
        generate.status_code == 409 and "background removal is still running" in error_of(generate)["message"]
    )
    assert len(stack.events.of(model_id, "photos.uploaded")) == 4


async def test_completed_model_refuses_photos_and_reruns(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user)
    await upload_all(stack, user, model_id)
    uid = uuid.UUID(model_id)
    await stack.publish(BackgroundRemovalStarted(model_id=uid, producer="bgremoval"))
    await stack.wait_for_status(user, model_id, "removing_background")
    await stack.publish(GenerationStarted(model_id=uid, producer="generation", provider="local"))
    await stack.wait_for_status(user, model_id, "generating_3d_model")
    async with stack.client(user) as client:
        generating = await upload(client, model_id, "back", jpeg(seed=5))
        assert generating.status_code == 409 and "being generated" in error_of(generating)["message"]
        again = await client.post("/api/generate-model", json={"model_id": model_id})
        assert again.status_code == 409 and error_of(again)["code"] == "already_running"
    await stack.publish(
        ModelGenerated(
            model_id=uid,
            producer="generation",
            provider="local",
            vertex_count=8,
            face_count=12,
            asset_keys={"glb": f"models/{model_id}/assets/model.glb"},
        )
    )
    await stack.wait_for_status(user, model_id, "completed")
    async with stack.client(user) as client:
        photo = await upload(client, model_id, "back", jpeg(seed=5))
        removal = await client.post("/api/remove-background", json={"model_id": model_id})
        generation = await client.post("/api/generate-model", json={"model_id": model_id})
    for response in (photo, removal, generation):
        assert response.status_code == 409, response.text
        assert error_of(response)["code"] == "model_completed"
    assert len(stack.events.of(model_id, "photos.uploaded")) == 4
    assert stack.events.of(model_id, "background.removal_requested") == []
    assert stack.events.of(model_id, "generation.requested") == []


# --- re-runs -----------------------------------------------------------------------------------------------


async def test_remove_background_rerun(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user, provider="local")
    async with stack.client(user) as client:
        assert (await upload(client, model_id, "front", jpeg())).status_code == 201
        await stack.wait_for_status(user, model_id, "uploading_photos")
        early = await client.post("/api/remove-background", json={"model_id": model_id})
        assert early.status_code == 409
        assert error_of(early)["message"].startswith("the left, right and back photos are missing")
        assert error_of(early)["detail"]["missing_views"] == ["left", "right", "back"]

    await upload_all(stack, user, model_id)
    async with stack.client(user) as client:
        accepted = await client.post("/api/remove-background", json={"model_id": model_id})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"model_id": model_id, "requested": "background_removal"}
    (event,) = await stack.events.wait_for(model_id, "background.removal_requested", 1)
    assert event["original_keys"] == {v: f"models/{model_id}/originals/{v}" for v in VIEWS}
    assert event["requested_by"] == user and event["provider"] == "local"


async def fail_generation(stack: Stack, user: str, model_id: str) -> None:
    """The model went through background removal and its generation failed, as the workers would say."""
    uid = uuid.UUID(model_id)
    await stack.publish(BackgroundRemovalStarted(model_id=uid, producer="bgremoval"))
    await stack.wait_for_status(user, model_id, "removing_background")
    await stack.publish(
        ModelFailed(
            model_id=uid,
            producer="generation",
            stage=Stage.GENERATION,
            reason="the provider timed out",
            error_code="timeout",
            retryable=True,
        )
    )
    await stack.wait_for_status(user, model_id, "failed")


async def test_after_a_failure_photos_can_be_replaced_and_stages_rerun(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user)
    await upload_all(stack, user, model_id)
    await fail_generation(stack, user, model_id)

    async with stack.client(user) as client:
        no_cutouts = await client.post("/api/generate-model", json={"model_id": model_id})
        assert no_cutouts.status_code == 409
        assert error_of(no_cutouts)["code"] == "cutouts_missing"
        assert "front, left, right and back photos are missing" in error_of(no_cutouts)["message"]

        for view in VIEWS:
            stack.s3.put_object(
                Bucket=stack.bucket,
                Key=f"models/{model_id}/cutouts/{view}.png",
                Body=b"png",
                ContentType="image/png",
            )
        unknown = await client.post("/api/generate-model", json={"model_id": model_id, "provider": "nope"})
        assert unknown.status_code == 422 and error_of(unknown)["code"] == "invalid_provider"
        generate = await client.post(
            "/api/generate-model", json={"model_id": model_id, "provider": "tencent"}
        )
        assert generate.status_code == 202, generate.text
        assert generate.json() == {"model_id": model_id, "requested": "generation"}

        replaced = await upload(client, model_id, "right", jpeg(seed=7))
        assert replaced.status_code == 201 and replaced.json()["all_views_uploaded"] is True
        # the replaced photo's cut-out is gone with it: generation must wait for background removal
        stale = await client.post("/api/generate-model", json={"model_id": model_id})
        assert stale.status_code == 409 and error_of(stale)["code"] == "cutouts_missing"
        assert "right" in error_of(stale)["message"]
        removal = await client.post("/api/remove-background", json={"model_id": model_id})
        assert removal.status_code == 202

    (generation,) = await stack.events.wait_for(model_id, "generation.requested", 1)
    assert generation["cutout_keys"] == {v: f"models/{model_id}/cutouts/{v}.png" for v in VIEWS}
    assert generation["provider"] == "tencent" and generation["requested_by"] == user
    uploads = await stack.events.wait_for(model_id, "photos.uploaded", 5)
    assert uploads[-1]["view"] == "right" and uploads[-1]["start_processing"] is False
    await stack.events.wait_for(model_id, "background.removal_requested", 1)
    await asyncio.sleep(1)
    assert (await stack.model(user, model_id))["status"] == "failed"  # waits for the re-run to really start


async def test_options_travel_with_the_events_and_a_rerun_overrides_them(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user, height_m=0.3, target_faces=5000)
    stored = {"height_m": 0.3, "width_m": None, "target_faces": 5000, "texture": True}
    await upload_all(stack, user, model_id)
    uploads = await stack.events.wait_for(model_id, "photos.uploaded", 4)
    assert all(event["options"] == stored for event in uploads)  # on to bgremoval, then generation

    await fail_generation(stack, user, model_id)
    for view in VIEWS:
        stack.s3.put_object(
            Bucket=stack.bucket,
            Key=f"models/{model_id}/cutouts/{view}.png",
            Body=b"png",
            ContentType="image/png",
        )
    async with stack.client(user) as client:
        too_few = await client.post("/api/generate-model", json={"model_id": model_id, "target_faces": 10})
        both = await client.post(
            "/api/generate-model", json={"model_id": model_id, "height_m": 1.0, "width_m": 1.0}
        )
        rerun = await client.post(
            "/api/generate-model", json={"model_id": model_id, "width_m": 0.5, "texture": False}
        )
    for refused, field_name in ((too_few, "target_faces"), (both, "width_m")):
        assert refused.status_code == 400 and error_of(refused)["code"] == "validation_error", refused.text
        assert field_name in json.dumps(error_of(refused))
    assert rerun.status_code == 202, rerun.text
    (generation,) = await stack.events.wait_for(model_id, "generation.requested", 1)
    # field by field: the new width replaces the stored height, the face budget stays
    assert generation["options"] == {"height_m": None, "width_m": 0.5, "target_faces": 5000, "texture": False}
    assert (await stack.model(user, model_id))["options"] == stored  # until generation really starts


async def test_generate_model_before_any_failure_is_409(stack: Stack):
    user = new_user()
    model_id = await stack.create_model(user)
    async with stack.client(user) as client:
        response = await client.post("/api/generate-model", json={"model_id": model_id})
    assert response.status_code == 409 and error_of(response)["code"] == "not_failed"


# --- service basics ----------------------------------------------------------------------------------------


async def test_health_openapi_asyncapi_and_cors(stack: Stack):
    async with stack.client() as anonymous:
        health = await anonymous.get("/health")
        schema = await anonymous.get("/schema/openapi.json")
        asyncapi = await anonymous.get("/asyncapi.json")
        preflight = await anonymous.options(
            "/api/upload-photo",
            headers={
                "Origin": "http://localhost:8000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        foreign = await anonymous.options(
            "/api/upload-photo",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    operations = {
        op["operationId"]
        for path in schema.json()["paths"].values()
        for op in path.values()
        if isinstance(op, dict)
    }
    assert {"uploadPhoto", "requestBackgroundRemoval", "requestGeneration", "health"} <= operations
    published = {channel["address"] for channel in asyncapi.json()["channels"].values()}
    assert published == {
        stack.events.prefix + event.topic
        for event in (PhotoUploaded, BackgroundRemovalRequested, GenerationRequested)
    }
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8000"
    assert "access-control-allow-origin" not in foreign.headers


async def test_broker_failure_is_503_and_the_retry_registers_the_kept_photo(stack: Stack, s3_settings):
    """The app in this process (same infrastructure and status service), its publisher made to fail."""
    from litestar.testing import AsyncTestClient

    from photo3d_common.settings import KafkaSettings, S3Settings
    from photo3d_upload.app import create_app
    from photo3d_upload.settings import UploadSettings

    settings = UploadSettings(
        status_url=stack.status_url,
        kafka=KafkaSettings(bootstrap_servers=stack.kafka_bootstrap, topic_prefix=stack.events.prefix),
        s3=S3Settings(
            endpoint_url=s3_settings.endpoint_url,
            region=s3_settings.region,
            bucket=s3_settings.bucket,
            S3_ACCESS_KEY_ID=s3_settings.access_key_id,
            S3_SECRET_ACCESS_KEY=s3_settings.secret_access_key,
        ),
        auth=AuthSettings(jwt_secret=TEST_JWT_SECRET),
    )
    user = new_user()
    model_id = await stack.create_model(user)
    app = create_app(settings)

    async def broker_down(event: Any) -> None:
        raise ConnectionError("kafka is unreachable")

    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token(user)}"
        working = app.state.deps
        app.state.deps = replace(working, publish=broker_down)
        failed = await upload(client, model_id, "front", jpeg())
        assert failed.status_code == 503, failed.text
        assert error_of(failed)["code"] == "broker_unavailable"
        assert "the photo is stored" in error_of(failed)["message"]
        # kept: a publish that failed may still have been delivered, and then the model lists the photo
        assert stack.stored_keys(f"models/{model_id}/") == [f"models/{model_id}/originals/front"]
        rerun = await client.post("/api/remove-background", json={"model_id": model_id})
        assert rerun.status_code == 409  # refused before publishing: nothing to publish

        app.state.deps = working
        retried = await upload(client, model_id, "front", jpeg())
        assert retried.status_code == 201, retried.text
    (event,) = await stack.events.wait_for(model_id, "photos.uploaded", 1)
    assert event["view"] == "front" and event["original_keys"] == {
        "front": f"models/{model_id}/originals/front"
    }
