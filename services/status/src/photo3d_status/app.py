"""The composition root: settings, database pool, object storage, Kafka broker, live-change hub and the
Litestar app. Nothing connects at import or in ``create_app``; everything opens in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import File
from litestar.static_files import create_static_files_router

from photo3d_common.auth import TokenVerifier
from photo3d_common.broker import EventPublisher, create_broker, ensure_topics
from photo3d_common.events import ModelStatusChanged
from photo3d_common.logging import configure_logging, get_logger
from photo3d_common.settings import KafkaSettings
from photo3d_common.storage import ObjectStorage
from photo3d_common.web import (
    EXCEPTION_HANDLERS,
    Readiness,
    bearer_auth,
    http_error_handler,
    nosniff,
    readiness,
)
from photo3d_status.api.deps import provide_models, provide_owner
from photo3d_status.api.dev import DevTokenController
from photo3d_status.api.events import ModelEventsController
from photo3d_status.api.files import ModelFilesController
from photo3d_status.api.models import ModelController
from photo3d_status.api.schemas import FrontendConfig
from photo3d_status.api.system import SystemController
from photo3d_status.consumer import document_consumers, document_published, register_consumers
from photo3d_status.live import ModelChangeHub
from photo3d_status.migrate import migrate
from photo3d_status.repository import ModelRepository
from photo3d_status.service import ModelService
from photo3d_status.settings import StatusSettings
from photo3d_status.watchdog import StageWatchdog

log = get_logger(__name__)
SERVICE = "status"


def build_broker(kafka: KafkaSettings, runtime: Any, *, consume: bool = True) -> KafkaBroker:
    """The broker with this service's consumer (no connection yet). ``consume=False``: publish only."""
    broker = create_broker(kafka, service=SERVICE)
    if consume:
        register_consumers(broker, kafka, runtime)
    return broker


def asyncapi_document(kafka: KafkaSettings | None = None) -> dict[str, Any]:
    """What this service consumes and publishes, with the event schemas (from a broker never started)."""
    kafka = kafka or KafkaSettings(topic_prefix="")
    broker = create_broker(kafka, service=SERVICE)
    document_consumers(broker, kafka)
    document_published(broker, kafka)
    spec = AsyncAPI(
        broker,
        title="photo3d status service",
        version="1.0.0",
        description="Consumes every event that changes a model's status (group photo3d-status); "
        "publishes model.status_changed for integrations.",
    )
    return spec.to_specification().to_jsonable()


class StatusRuntime:
    """What the running service holds; filled in by ``lifespan``."""

    def __init__(self, settings: StatusSettings) -> None:
        self.settings = settings
        self.broker = build_broker(settings.kafka, self, consume=settings.consume)
        self.publisher = EventPublisher(self.broker, settings.kafka)
        self.pool: asyncpg.Pool | None = None
        self.repository: ModelRepository = None  # type: ignore[assignment]
        self.storage: ObjectStorage | None = None
        self.hub = ModelChangeHub(settings.database_url)
        self.models: ModelService = None  # type: ignore[assignment]
        self._sweeper: asyncio.Task[None] | None = None
        self._asyncapi: dict[str, Any] | None = None

    async def publish(self, event: ModelStatusChanged) -> None:
        await self.publisher(event)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Litestar) -> AsyncIterator[None]:
        settings = self.settings
        if settings.migrate_on_start:
            await migrate(settings.database_url)
        async with contextlib.AsyncExitStack() as stack:
            self.pool = await asyncpg.create_pool(
                settings.database_url,
                min_size=settings.db_pool_min,
                max_size=settings.db_pool_max,
                timeout=settings.db_connect_timeout_s,
                command_timeout=settings.db_command_timeout_s,
            )
            stack.push_async_callback(self.pool.close)
            self.repository = ModelRepository(self.pool)
            self.storage = await stack.enter_async_context(ObjectStorage(settings.s3))
            await self.hub.start()
            stack.push_async_callback(self.hub.stop)
            await ensure_topics(settings.kafka)
            await self.broker.start()
            stack.push_async_callback(self.broker.stop)
            self.models = ModelService(
                repository=self.repository,
                storage=self.storage,
                hub=self.hub,
                publish=self.publish,
                providers=settings.providers,
                keepalive_s=settings.sse_keepalive_s,
                default_options=settings.default_options(),
            )
            self._sweeper = asyncio.create_task(self._sweep_outbox(), name="outbox-sweeper")
            stack.push_async_callback(self._stop_sweeper)
            if settings.consume and settings.watchdog:
                watchdog = StageWatchdog(
                    self.repository,
                    self.publish,
                    deadlines_s=settings.stage_deadlines_s,
                    interval_s=settings.watchdog_interval_s,
                )
                await stack.enter_async_context(watchdog.running())
            stack.callback(self.hub.close)  # first thing at shutdown: open event streams end
            log.info("status service started", consumers=settings.consume)
            yield

    async def _stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep_outbox(self) -> None:
        """Publishes status changes a crash or a broker outage left queued."""
        while True:
            try:
                sent = await self.repository.flush_outbox(self.publish)
                if sent:
                    log.info("queued status changes published", count=sent)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - retried next round
                log.warning("outbox sweep failed", error=str(error))
            await asyncio.sleep(self.settings.outbox_sweep_s)

    async def ready(self) -> Response[Readiness]:
        storage = self.storage
        assert storage is not None, "the lifespan opens the storage before requests are served"
        return await readiness(
            {
                "database": self.repository.ping,
                "broker": lambda: self.broker.ping(timeout=self.settings.ready_timeout_s),
                "storage": storage.ping,
            },
            timeout_s=self.settings.ready_timeout_s,
        )

    def frontend_config(self) -> FrontendConfig:
        return FrontendConfig(uploadBaseUrl=self.settings.public_upload_url, statusBaseUrl="")

    def asyncapi(self) -> dict[str, Any]:
        if self._asyncapi is None:
            self._asyncapi = asyncapi_document(self.settings.kafka)
        return self._asyncapi


def _frontend_router(directory: Path) -> Any:
    """The built web page at /, with unknown non-API paths answered by index.html (client-side routes)."""
    index = directory / "index.html"

    def spa_fallback(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
        if request.url.path.startswith("/api/") or not index.is_file():
            return http_error_handler(request, exc)
        return File(index, content_disposition_type="inline", media_type="text/html")

    return create_static_files_router(
        path="/",
        directories=[directory],
        html_mode=True,
        name="frontend",
        include_in_schema=False,
        exception_handlers={NotFoundException: spa_fallback},
    )


def create_app(settings: StatusSettings | None = None) -> Litestar:
    settings = settings or StatusSettings()
    configure_logging(SERVICE, settings.log)
    runtime = StatusRuntime(settings)
    handlers: list[Any] = [SystemController, ModelController, ModelEventsController, ModelFilesController]
    if settings.auth.dev_tokens_enabled:
        handlers.append(DevTokenController)
    if settings.frontend_dir is not None:
        if (settings.frontend_dir / "index.html").is_file():
            handlers.append(_frontend_router(settings.frontend_dir))
        else:  # the API is useful without the page: say why / is missing rather than refusing to start
            log.warning(
                "no web page: STATUS_FRONTEND_DIR has no index.html (build the front end)",
                frontend_dir=str(settings.frontend_dir),
            )
    app = Litestar(
        route_handlers=handlers,
        dependencies={
            "models": Provide(provide_models, sync_to_thread=False),
            "owner": Provide(provide_owner, sync_to_thread=False),
        },
        middleware=[bearer_auth(TokenVerifier(settings.auth))],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[runtime.lifespan],
        before_request=_bind_model_id,
        before_send=[nosniff],
        after_response=_unbind_model_id,
        logging_config=None,  # configure_logging owns logging; Litestar's default would replace it
        state=_state(runtime),
        cors_config=CORSConfig(allow_origins=settings.cors_origins, allow_credentials=False)
        if settings.cors_origins
        else None,
        openapi_config=OpenAPIConfig(
            title="photo3d status API",
            version="1.0.0",
            description="Models, their live status and their stored files.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
            security=[{"bearer": []}],
        ),
    )
    return app


def _bind_model_id(request: Request[Any, Any, Any]) -> None:
    """Every log line written while handling /api/models/{id}/... carries the model id."""
    model_id = request.path_params.get("model_id")
    if model_id is not None:
        structlog.contextvars.bind_contextvars(model_id=str(model_id))


def _unbind_model_id(_request: Request[Any, Any, Any]) -> None:
    structlog.contextvars.unbind_contextvars("model_id")


def _state(runtime: StatusRuntime) -> Any:
    from litestar.datastructures import State

    return State({"runtime": runtime})
