"""The upload service with a dependency down (issue 9): ``/ready`` names it, and an upload answers 503 with
its code within 2 s. Nothing is stored without the status service or the object store; with the broker
failing the photo is kept (its announcement may still arrive) and its retry registers it. The status service runs as a process on the session's
infrastructure; the upload app runs in this process, with a broker of this test's own to stop, or the
object store behind a proxy to cut."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from PIL import Image

from photo3d_common.auth import mint_dev_token
from photo3d_common.events import VIEWS, PhotoUploaded
from photo3d_common.settings import AuthSettings, KafkaSettings, LogSettings, S3Settings
from photo3d_devstack.infra import TansuBroker
from photo3d_upload.app import create_app
from photo3d_upload.settings import UploadSettings
from tests.infra import TEST_JWT_SECRET, ServiceProcesses, free_port
from tests.support.asgi import serving
from tests.support.outage import proxied

FAIL_FAST_S = 2.0


@pytest.fixture(scope="module")
def status_url(infra_env, kafka_topic_prefix, request) -> Iterator[str]:
    port = free_port()
    processes = ServiceProcesses(request.node.nodeid)
    env = infra_env | {"KAFKA_TOPIC_PREFIX": f"{kafka_topic_prefix}outages.", "STATUS_PORT": str(port)}
    try:
        processes("photo3d_status", env, port=port)
        yield f"http://127.0.0.1:{port}"
    finally:
        processes.stop_all()


@pytest.fixture
def own_broker(tmp_path) -> Iterator[TansuBroker]:
    with open(tmp_path / "tansu.log", "w") as log, TansuBroker(port=free_port(), output=log) as broker:
        yield broker


def s3_of(s3_settings, endpoint_url: str | None = None) -> S3Settings:
    return S3Settings(
        endpoint_url=endpoint_url or s3_settings.endpoint_url,
        region=s3_settings.region,
        bucket=s3_settings.bucket,
        S3_ACCESS_KEY_ID=s3_settings.access_key_id,
        S3_SECRET_ACCESS_KEY=s3_settings.secret_access_key,
    )


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((400, 400), 30).convert("RGB").save(out, format="JPEG")
    return out.getvalue()


class Uploader:
    def __init__(self, client: httpx.AsyncClient, status_url: str) -> None:
        self.client = client
        self.status_url = status_url
        self.user = f"user-{uuid.uuid4().hex[:8]}"
        self.headers = {
            "Authorization": f"Bearer {mint_dev_token(AuthSettings(jwt_secret=TEST_JWT_SECRET), self.user)}"
        }

    async def create_model(self) -> str:
        async with httpx.AsyncClient(base_url=self.status_url, headers=self.headers) as status:
            response = await status.post("/api/models", json={})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def upload(self, model_id: str, view: str) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = await self.client.post(
            "/api/upload-photo",
            data={"model_id": model_id, "view": view},
            files={"file": ("a.jpg", jpeg(), "image/jpeg")},
            headers=self.headers,
        )
        return response, time.monotonic() - started


@pytest.fixture
async def uploader_factory(status_url) -> AsyncIterator:
    async with contextlib.AsyncExitStack() as stack:

        async def make(kafka: KafkaSettings, s3: S3Settings, *, status_url: str = status_url) -> Uploader:
            app = create_app(
                UploadSettings(
                    status_url=status_url,
                    kafka=kafka,
                    s3=s3,
                    auth=AuthSettings(jwt_secret=TEST_JWT_SECRET),
                    log=LogSettings(level="WARNING"),
                )
            )
            base_url = await stack.enter_async_context(serving(app, free_port()))
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=30))
            return Uploader(client, status_url)

        yield make


async def wait_until_check(
    client: httpx.AsyncClient, dependency: str, wanted: str, timeout_s: float = 15
) -> httpx.Response:
    """Poll ``/ready`` until ``dependency``'s check says ``wanted``: each check has a 1 s budget, so on a
    busy machine one look can miss a dependency that is in fact up (or still see one that just died)."""
    deadline = time.monotonic() + timeout_s
    while True:
        ready = await client.get("/ready")
        if ready.json()["checks"][dependency]["status"] == wanted:
            return ready
        assert time.monotonic() < deadline, f"/ready still says {ready.json()} after {timeout_s}s"
        await asyncio.sleep(0.2)


async def wait_until_ready(client: httpx.AsyncClient, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while (ready := await client.get("/ready")).status_code != 200:
        assert time.monotonic() < deadline, f"/ready still says {ready.json()} after {timeout_s}s"
        await asyncio.sleep(0.2)


async def wait_until_unready(
    client: httpx.AsyncClient, dependency: str, timeout_s: float = 15
) -> httpx.Response:
    ready = await wait_until_check(client, dependency, "unavailable", timeout_s)
    assert ready.status_code == 503, ready.text
    return ready


def stored_keys(s3_settings, model_id: str) -> list[str]:
    listing = s3_settings.client().list_objects_v2(Bucket=s3_settings.bucket, Prefix=f"models/{model_id}/")
    return [item["Key"] for item in listing.get("Contents", [])]


async def test_broker_stopped_ready_says_so_and_uploads_answer_503_within_2s(
    own_broker, uploader_factory, kafka_topic_prefix, s3_settings
):
    kafka = KafkaSettings(bootstrap_servers=own_broker.bootstrap_servers, topic_prefix=kafka_topic_prefix)
    uploader = await uploader_factory(kafka, s3_of(s3_settings))
    model_id = await uploader.create_model()
    before, _ = await uploader.upload(model_id, "front")
    assert before.status_code == 201, before.text
    await wait_until_ready(uploader.client)

    own_broker.stop()
    ready = await wait_until_unready(uploader.client, "broker")
    failed, elapsed = await uploader.upload(model_id, "left")
    health = await uploader.client.get("/health")

    print(f"broker stopped: upload answered {failed.status_code} in {elapsed:.3f}s")
    checks = ready.json()["checks"]
    assert (checks["broker"]["status"], checks["storage"]["status"], checks["status_service"]["status"]) == (
        "unavailable",
        "ok",
        "ok",
    )
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "broker_unavailable"
    assert elapsed < FAIL_FAST_S
    assert "the photo is stored" in failed.json()["error"]["message"]
    assert stored_keys(s3_settings, model_id) == [
        f"models/{model_id}/originals/{view}" for view in ("front", "left")
    ]
    assert health.status_code == 200 and health.json() == {"status": "ok"}


async def test_broker_dying_under_an_upload_answers_503_within_2s(
    own_broker, uploader_factory, kafka_topic_prefix, s3_settings
):
    """Before readiness noticed: the publish itself gives up within UPLOAD_PUBLISH_TIMEOUT_MS."""
    kafka = KafkaSettings(bootstrap_servers=own_broker.bootstrap_servers, topic_prefix=kafka_topic_prefix)
    uploader = await uploader_factory(kafka, s3_of(s3_settings))
    model_id = await uploader.create_model()
    own_broker.stop()
    failed, elapsed = await uploader.upload(model_id, "front")
    print(f"broker just stopped: upload answered {failed.status_code} in {elapsed:.3f}s")
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "broker_unavailable", failed.text
    assert elapsed < FAIL_FAST_S
    assert stored_keys(s3_settings, model_id) == [f"models/{model_id}/originals/front"]


async def photos_uploaded(kafka: KafkaSettings, model_id: str, sha256: str) -> dict:
    """The photos.uploaded event of the stored photo with this digest (read from the topic's start)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        kafka.topic(PhotoUploaded.topic),
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            async for message in consumer:
                event = json.loads(message.value)
                if message.key == model_id.encode() and event["sha256"] == sha256:
                    return event
    finally:
        await consumer.stop()
    raise AssertionError("unreachable")  # pragma: no cover


async def test_broker_frozen_under_the_last_upload_keeps_it_and_its_retry_starts_processing(
    own_broker, uploader_factory, kafka_topic_prefix, s3_settings
):
    """A frozen broker (SIGSTOP) may take the produce request and apply it when it wakes up, though the
    upload has answered 503 by then: the photo stays stored, the 503 says so, and uploading it again
    announces the complete set, so background removal starts."""
    kafka = KafkaSettings(bootstrap_servers=own_broker.bootstrap_servers, topic_prefix=kafka_topic_prefix)
    uploader = await uploader_factory(kafka, s3_of(s3_settings))
    model_id = await uploader.create_model()
    for view in VIEWS[:3]:
        stored, _ = await uploader.upload(model_id, view)
        assert stored.status_code == 201, stored.text
    await wait_until_ready(uploader.client)

    pid = own_broker.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        failed, elapsed = await uploader.upload(model_id, "back")
    finally:
        os.kill(pid, signal.SIGCONT)

    print(f"broker frozen: the last upload answered {failed.status_code} in {elapsed:.3f}s")
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "broker_unavailable", failed.text
    assert "the photo is stored" in failed.json()["error"]["message"] and elapsed < FAIL_FAST_S
    assert sorted(stored_keys(s3_settings, model_id)) == sorted(
        f"models/{model_id}/originals/{view}" for view in VIEWS
    )
    await wait_until_ready(uploader.client)
    retried, _ = await uploader.upload(model_id, "back")
    assert retried.status_code == 201 and retried.json()["all_views_uploaded"], retried.text

    event = await photos_uploaded(kafka, model_id, retried.json()["sha256"])
    assert event["view"] == "back" and event["start_processing"] is True
    assert sorted(event["original_keys"]) == sorted(VIEWS)


async def test_object_store_down_ready_says_so_and_uploads_answer_503_within_2s(
    uploader_factory, kafka_bootstrap, kafka_topic_prefix, s3_settings
):
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"{kafka_topic_prefix}outages.")
    async with proxied(s3_settings.endpoint_url) as store:
        uploader = await uploader_factory(kafka, s3_of(s3_settings, store.url(s3_settings.endpoint_url)))
        model_id = await uploader.create_model()
        await store.cut()
        ready = await wait_until_unready(uploader.client, "storage")
        failed, elapsed = await uploader.upload(model_id, "front")
        rerun = await uploader.client.post(
            "/api/remove-background", json={"model_id": model_id}, headers=uploader.headers
        )
    print(f"object store down: upload answered {failed.status_code} in {elapsed:.3f}s")
    assert ready.json()["checks"]["broker"]["status"] == "ok"
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "storage_unavailable", failed.text
    assert elapsed < FAIL_FAST_S
    assert rerun.status_code == 503 and rerun.json()["error"]["code"] == "storage_unavailable"
    assert stored_keys(s3_settings, model_id) == []


async def test_the_status_services_database_down_is_passed_on_as_database_unavailable(
    uploader_factory,
    service_process,
    infra_env,
    database_url,
    kafka_bootstrap,
    kafka_topic_prefix,
    s3_settings,
):
    """The upload asks the status service for the model; with its database down that answers 503
    database_unavailable, and so does the upload (not a vague status_unavailable), within 2 s."""
    async with proxied(database_url) as database:
        port = free_port()
        env = infra_env | {
            "DATABASE_URL": database.url(database_url),
            "KAFKA_TOPIC_PREFIX": f"{kafka_topic_prefix}outages.",
            "STATUS_PORT": str(port),
        }
        await asyncio.to_thread(service_process, "photo3d_status", env, port=port)
        status_url = f"http://127.0.0.1:{port}"
        kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"{kafka_topic_prefix}outages.")
        uploader = await uploader_factory(kafka, s3_of(s3_settings), status_url=status_url)
        model_id = await uploader.create_model()
        await database.cut()
        failed, elapsed = await uploader.upload(model_id, "front")
    print(f"status service's database down: upload answered {failed.status_code} in {elapsed:.3f}s")
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "database_unavailable", failed.text
    assert elapsed < FAIL_FAST_S
    assert stored_keys(s3_settings, model_id) == []
