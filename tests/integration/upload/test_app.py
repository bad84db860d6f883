"""The upload app in this process (``create_app`` + Litestar's test client) against the real Kafka and S3,
for what needs its settings bent: the status service being down."""

from __future__ import annotations

import io
import uuid

from litestar.testing import AsyncTestClient
from PIL import Image

from photo3d_common.auth import mint_dev_token
from photo3d_common.settings import AuthSettings, KafkaSettings, LogSettings, S3Settings
from photo3d_upload.app import create_app
from photo3d_upload.settings import UploadSettings
from tests.infra import free_port

SECRET = "upload-in-process-test-secret-0123456789"


def settings(kafka_bootstrap: str, kafka_topic_prefix: str, s3_settings, **overrides) -> UploadSettings:
    return UploadSettings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka_bootstrap, topic_prefix=f"{kafka_topic_prefix}upload-app."
        ),
        s3=S3Settings(
            endpoint_url=s3_settings.endpoint_url,
            region=s3_settings.region,
            bucket=s3_settings.bucket,
            S3_ACCESS_KEY_ID=s3_settings.access_key_id,
            S3_SECRET_ACCESS_KEY=s3_settings.secret_access_key,
        ),
        auth=AuthSettings(jwt_secret=SECRET),
        log=LogSettings(level="WARNING"),
        **overrides,
    )


async def test_status_service_down_is_503_and_nothing_stored(
    kafka_bootstrap, kafka_topic_prefix, s3_settings
):
    dead = f"http://127.0.0.1:{free_port()}"
    app = create_app(
        settings(kafka_bootstrap, kafka_topic_prefix, s3_settings, status_url=dead, status_timeout_s=2)
    )
    photo = io.BytesIO()
    Image.effect_noise((400, 400), 30).convert("RGB").save(photo, format="JPEG")
    model_id = str(uuid.uuid4())
    token = mint_dev_token(AuthSettings(jwt_secret=SECRET), "alice")
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/api/upload-photo",
            data={"model_id": model_id, "view": "front"},
            files={"file": ("a.jpg", photo.getvalue(), "image/jpeg")},
            headers={"Authorization": f"Bearer {token}"},
        )
        rerun = await client.post(
            "/api/remove-background",
            json={"model_id": model_id},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "status_unavailable"
    assert "nothing was stored" in response.json()["error"]["message"]
    assert rerun.status_code == 503
    listing = s3_settings.client().list_objects_v2(Bucket=s3_settings.bucket, Prefix=f"models/{model_id}/")
    assert listing.get("KeyCount", 0) == 0


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    monkeypatch.setenv("UPLOAD_MAX_BYTES", "1000000")
    monkeypatch.setenv("UPLOAD_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("UPLOAD_STATUS_URL", "http://status:8000")
    loaded = UploadSettings()
    assert loaded.max_bytes == 1_000_000 and loaded.limits.max_bytes == 1_000_000
    assert loaded.cors_origins == ["https://a.example", "https://b.example"]
    assert loaded.status_url == "http://status:8000" and loaded.port == 8001
    assert loaded.request_max_body_size > loaded.max_bytes
    monkeypatch.delenv("UPLOAD_CORS_ORIGINS")
    assert UploadSettings().cors_origins == ["http://127.0.0.1:8000", "http://localhost:8000"]
