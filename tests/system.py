"""The whole system as real processes (status, upload, bgremoval, generation) on this run's real
infrastructure (Postgres, Tansu, SeaweedFS), started once per session when the first test asks for it and
shared by the end-to-end tests (tests/e2e) and the browser tests (tests/browser), plus a client that
drives it like a user would over HTTP. Tests share it by signing in as users of their own.

A pytest plugin (``pytest_plugins`` in tests/conftest.py), importable as ``tests.system``."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from photo3d_bgremoval import model_files
from photo3d_devstack.infra._util import free_port
from tests.fakes.tencent import FakeTencentAi3d
from tests.infra import ServiceProcesses

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"completed", "failed"}
SYSTEM_VERSION = "e2e-system"  # PHOTO3D_VERSION of the running system's services


@dataclass
class System:
    status_url: str
    upload_url: str
    fake_tencent: FakeTencentAi3d
    database_url: str = ""  # the system's own database (for operator actions, e.g. the creation switch)

    def token(self, user: str) -> str:
        response = httpx.post(f"{self.status_url}/api/dev/token", json={"user": user}, timeout=10)
        response.raise_for_status()
        return response.json()["token"]


class User:
    """One signed-in user of the running system."""

    def __init__(self, system: System, name: str) -> None:
        self.system = system
        self.name = name
        self.headers = {"Authorization": f"Bearer {system.token(name)}"}
        self.http = httpx.AsyncClient(headers=self.headers, timeout=30)

    async def create_model(self, **body: Any) -> dict[str, Any]:
        response = await self.http.post(f"{self.system.status_url}/api/models", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    async def upload(
        self,
        model_id: str,
        view: str,
        data: bytes,
        *,
        filename: str = "photo.jpg",
        content_type: str = "image/jpeg",
    ) -> httpx.Response:
        return await self.http.post(
            f"{self.system.upload_url}/api/upload-photo",
            data={"model_id": model_id, "view": view},
            files={"file": (filename, data, content_type)},
        )

    async def model(self, model_id: str) -> dict[str, Any]:
        response = await self.http.get(f"{self.system.status_url}/api/models/{model_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def wait_for(
        self,
        model_id: str,
        statuses: set[str],
        *,
        timeout: float = 240,
        newer_than: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Poll until the model is in one of ``statuses``; with ``newer_than`` (an earlier read of the
        model), states not updated since that read don't count (e.g. the old ``failed`` before a re-run)."""
        deadline = time.monotonic() + timeout

        def stale(model: dict[str, Any]) -> bool:
            return newer_than is not None and model["updated_at"] <= newer_than["updated_at"]

        model = await self.model(model_id)
        while model["status"] not in statuses or stale(model):
            if time.monotonic() > deadline:
                raise AssertionError(f"model stuck in {model['status']!r} (waited for {statuses}): {model}")
            if model["status"] in TERMINAL - statuses and not stale(model):
                raise AssertionError(f"model ended {model['status']!r}, expected {statuses}: {model}")
            await asyncio.sleep(0.5)
            model = await self.model(model_id)
        return model

    async def file(self, model_id: str, path: str) -> httpx.Response:
        return await self.http.get(f"{self.system.status_url}/api/models/{model_id}/files/{path}")

    async def rerun(self, stage: str, model_id: str, **body: Any) -> httpx.Response:
        endpoint = {"background_removal": "remove-background", "generation": "generate-model"}[stage]
        return await self.http.post(
            f"{self.system.upload_url}/api/{endpoint}", json={"model_id": model_id, **body}
        )


@pytest.fixture(scope="session")
def running_system(infra_env: dict[str, str], make_database, kafka_topic_prefix: str) -> Iterator[System]:
    model_dir = ROOT / "var" / "models" / "u2net"
    model_files.install(model_dir)
    status_port, upload_port = free_port(), free_port()
    status_url, upload_url = f"http://127.0.0.1:{status_port}", f"http://127.0.0.1:{upload_port}"
    frontend = ROOT / "frontend" / "dist"
    with FakeTencentAi3d() as fake_tencent:
        # Its own database and topics: new consumer groups read from the start, and must not replay the
        # events other tests left on the session's topics.
        run = uuid.uuid4().hex[:6]
        env = {
            **infra_env,
            "DATABASE_URL": make_database(f"e2e_{run}"),
            "KAFKA_TOPIC_PREFIX": f"{kafka_topic_prefix}e2e{run}.",
            "STATUS_PORT": str(status_port),
            "STATUS_PUBLIC_UPLOAD_URL": upload_url,
            "UPLOAD_PORT": str(upload_port),
            "UPLOAD_STATUS_URL": status_url,
            "UPLOAD_CORS_ORIGINS": f'["{status_url}"]',
            "BGREMOVAL_MODEL_DIR": str(model_dir),
            "BGREMOVAL_MAX_SIDE_PX": "1024",
            "GENERATION_PROVIDERS": '["local", "tencent"]',
            "GENERATION_LOCAL_VOXEL_RESOLUTION": "96",
            "GENERATION_TENCENT_ENDPOINT": fake_tencent.url,
            "GENERATION_TENCENT_SECRET_ID": fake_tencent.secret_id,
            "GENERATION_TENCENT_SECRET_KEY": fake_tencent.secret_key,
            "GENERATION_TENCENT_POLL_INTERVAL_S": "0.2",
            "GENERATION_TENCENT_MAX_POLL_INTERVAL_S": "0.5",
            # JSON lines, as in production: tests/e2e/test_failure_logs.py reads them
            "LOG_FORMAT": "json",
            "PHOTO3D_VERSION": SYSTEM_VERSION,
        }
        if (frontend / "index.html").is_file():
            env["STATUS_FRONTEND_DIR"] = str(frontend)
        processes = ServiceProcesses("running-system")
        try:
            processes("photo3d_status", env, port=status_port)
            processes("photo3d_upload", env, port=upload_port)
            processes("photo3d_bgremoval", env)
            processes("photo3d_generation", env)
            _wait_healthy(status_url, upload_url)
            yield System(
                status_url=status_url,
                upload_url=upload_url,
                fake_tencent=fake_tencent,
                database_url=env["DATABASE_URL"],
            )
        finally:
            processes.stop_all()


def _wait_healthy(*urls: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} never became healthy")
            time.sleep(0.2)
