"""Fixtures for the status service's integration tests (real Postgres; Kafka and S3 where asked for)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from photo3d_status.migrate import migrate
from photo3d_status.repository import ModelRepository


@pytest.fixture(scope="session")
async def status_database_url(database_url: str) -> str:
    """The session's database with the status schema."""
    await migrate(database_url)
    return database_url


@pytest.fixture(scope="session")
async def pool(status_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(status_database_url, min_size=2, max_size=25)
    yield pool
    await pool.close()


@pytest.fixture
def repository(pool: asyncpg.Pool) -> ModelRepository:
    return ModelRepository(pool)


# --- running the service in this process, over real HTTP ---------------------------------------------------
import contextlib
import socket
from dataclasses import dataclass
from typing import Any

import httpx

from photo3d_common.auth import mint_dev_token
from photo3d_common.settings import AuthSettings, KafkaSettings, S3Settings
from photo3d_status.app import create_app
from photo3d_status.settings import StatusSettings
from tests.support.asgi import serving

JWT_SECRET = "status-integration-secret-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningStatus:
    base_url: str
    app: Any
    settings: StatusSettings

    def token(self, user: str, **kwargs: Any) -> str:
        return mint_dev_token(self.settings.auth, user, **kwargs)

    def client(self, user: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=20, **kwargs)


@pytest.fixture(scope="session")
def status_settings_factory(status_database_url, kafka_bootstrap, kafka_topic_prefix, s3_settings):
    def make(**overrides: Any) -> StatusSettings:
        values: dict[str, Any] = {
            "database_url": status_database_url,
            "port": _free_port(),
            "consume": False,
            "sse_keepalive_s": 0.5,
            "kafka": KafkaSettings(
                bootstrap_servers=kafka_bootstrap, topic_prefix=kafka_topic_prefix, session_timeout_ms=6000
            ),
            "s3": S3Settings(
                endpoint_url=s3_settings.endpoint_url,
                region=s3_settings.region,
                bucket=s3_settings.bucket,
                S3_ACCESS_KEY_ID=s3_settings.access_key_id,
                S3_SECRET_ACCESS_KEY=s3_settings.secret_access_key,
            ),
            "auth": AuthSettings(jwt_secret=JWT_SECRET, dev_tokens_enabled=True),
        }
        values.update(overrides)
        return StatusSettings(**values)

    return make


@contextlib.asynccontextmanager
async def running_status(settings: StatusSettings):
    """The real app under uvicorn in this event loop: startup, HTTP, SSE, shutdown as in production."""
    app = create_app(settings)
    async with serving(app, settings.port) as base_url:
        try:
            yield RunningStatus(base_url, app, settings)
        finally:
            app.state.hub.close()  # open event streams end before the server waits for them


@pytest.fixture(scope="session")
async def status_app(status_settings_factory):
    async with running_status(status_settings_factory()) as running:
        yield running
