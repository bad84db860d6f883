"""The status service's Litestar app (``create_app``): routes, auth, errors, OpenAPI, the Kafka consumer,
and the lifespan that opens the dependencies (``bootstrap``) and runs the outbox sweeper. Nothing connects
at import or in ``create_app``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import File
from litestar.static_files import create_static_files_router

from photo3d_common import metrics
from photo3d_common.auth import TokenVerifier
from photo3d_common.broker import create_broker
from photo3d_common.logging import configure_logging, get_logger
from photo3d_common.settings import KafkaSettings
from photo3d_common.web import EXCEPTION_HANDLERS, bearer_auth, http_error_handler, nosniff
from photo3d_common.wiring import Injector
from photo3d_status.api.deps import provide_deps, provide_models, provide_owner
from photo3d_status.api.dev import DevTokenController
from photo3d_status.api.events import ModelEventsController
from photo3d_status.api.files import ModelFilesController
from photo3d_status.api.models import ModelController
from photo3d_status.api.system import SystemController
from photo3d_status.bootstrap import Deps, bootstrap
from photo3d_status.consumer import CONSUMER, GROUP_ID
from photo3d_status.live import ModelChangeHub
from photo3d_status.outbox import OutboxSweeper
from photo3d_status.settings import StatusSettings
from photo3d_status.watchdog import StageWatchdog

log = get_logger(__name__)
SERVICE = "status"


def build_broker(kafka: KafkaSettings, injector: Injector[Any], *, consume: bool = True) -> KafkaBroker:
    """The broker with this service's consumer (no connection yet). ``consume=False``: publish only."""
    broker = create_broker(kafka, service=SERVICE)
    if consume:
        CONSUMER.register(broker, kafka, GROUP_ID, injector)
    return broker


def asyncapi_document(kafka: KafkaSettings | None = None) -> dict[str, Any]:
    """What this service consumes and publishes, with the event schemas (from a broker never started)."""
    kafka = kafka or KafkaSettings(topic_prefix="")
    broker = create_broker(kafka, service=SERVICE)
    CONSUMER.document(broker, kafka, GROUP_ID)
    spec = AsyncAPI(
        broker,
        title="photo3d status service",
        version="1.0.0",
        description="Consumes every event that changes a model's status (group photo3d-status); "
        "publishes model.status_changed for integrations.",
    )
    return spec.to_specification().to_jsonable()


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
    injector: Injector[Deps] = Injector()
    broker = build_broker(settings.kafka, injector, consume=settings.consume)
    hub = ModelChangeHub(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            deps = await stack.enter_async_context(bootstrap(settings, broker=broker, hub=hub))
            sweeper = OutboxSweeper(deps.repository, deps.publish, interval_s=settings.outbox_sweep_s)
            await stack.enter_async_context(sweeper.running())
            if settings.consume and settings.watchdog:
                watchdog = StageWatchdog(
                    deps.repository,
                    deps.publish,
                    deadlines_s=settings.stage_deadlines_s,
                    interval_s=settings.watchdog_interval_s,
                )
                await stack.enter_async_context(watchdog.running())
            stack.enter_context(injector.serving(deps))
            app.state.deps = deps
            stack.callback(hub.close)  # first thing at shutdown: open event streams end
            log.info("status service started", consumers=settings.consume)
            yield

    metrics_middleware, metrics_controller = metrics.http_plugin(SERVICE)
    handlers: list[Any] = [
        SystemController, ModelController, ModelEventsController, ModelFilesController, metrics_controller,
    ]  # fmt: skip
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
    return Litestar(
        route_handlers=handlers,
        dependencies={
            "deps": Provide(provide_deps, sync_to_thread=False),
            "models": Provide(provide_models, sync_to_thread=False),
            "owner": Provide(provide_owner, sync_to_thread=False),
        },
        middleware=[metrics_middleware, bearer_auth(TokenVerifier(settings.auth))],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        before_request=_bind_model_id,
        before_send=[nosniff],
        after_response=_unbind_model_id,
        logging_config=None,  # configure_logging owns logging; Litestar's default would replace it
        state=State(
            {
                "settings": settings,
                "hub": hub,  # for the server's shutdown signal, before the lifespan ends
                # built on first request: it costs a broker's worth of set-up that a start need not pay
                "asyncapi": functools.cache(functools.partial(asyncapi_document, settings.kafka)),
            }
        ),
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


def _bind_model_id(request: Request[Any, Any, Any]) -> None:
    """Every log line written while handling /api/models/{id}/... carries the model id."""
    model_id = request.path_params.get("model_id")
    if model_id is not None:
        structlog.contextvars.bind_contextvars(model_id=str(model_id))


def _unbind_model_id(_request: Request[Any, Any, Any]) -> None:
    structlog.contextvars.unbind_contextvars("model_id")
