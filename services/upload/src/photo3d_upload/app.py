"""The upload service's Litestar app (``create_app``): routes, auth, errors, OpenAPI, and the lifespan that
opens the dependencies (``bootstrap``). Nothing connects at import."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from litestar import Litestar, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from photo3d_common import metrics
from photo3d_common.auth import TokenVerifier
from photo3d_common.broker import create_broker, document_publishers
from photo3d_common.events import BackgroundRemovalRequested, GenerationRequested, PhotoUploaded
from photo3d_common.logging import configure_logging, get_logger
from photo3d_common.web import (
    EXCEPTION_HANDLERS,
    NO_AUTH,
    READINESS_RESPONSES,
    Liveness,
    Readiness,
    bearer_auth,
    error_response,
    nosniff,
    readiness,
)
from photo3d_upload.api.deps import provide_caller, provide_deps
from photo3d_upload.api.photos import PhotoController
from photo3d_upload.api.stages import StageController
from photo3d_upload.bootstrap import bootstrap
from photo3d_upload.settings import UploadSettings
from photo3d_upload.validation import register_heif

log = get_logger(__name__)

SERVICE = "upload"
PUBLISHED_EVENTS = (PhotoUploaded, BackgroundRemovalRequested, GenerationRequested)


@get(
    "/health",
    operation_id="health",
    summary="Liveness: the process serves requests",
    description="Checks nothing outside the process; `/ready` checks the dependencies.",
    tags=["system"],
    security=NO_AUTH,
)
async def health() -> Liveness:
    return Liveness(status="ok")


@get(
    "/ready",
    operation_id="ready",
    summary="Readiness: the object store, the broker and the status service, each with its own status",
    description="200 when all answer within UPLOAD_READY_TIMEOUT_S, else 503 naming what is down. This "
    "service has no database of its own: the status service owns the models (its `/ready` checks Postgres).",
    tags=["system"],
    security=NO_AUTH,
    responses=READINESS_RESPONSES,
)
async def ready(state: State) -> Response[Readiness]:
    return await readiness(state.ready_checks, timeout_s=state.ready_timeout_s)


@get(
    "/asyncapi.json",
    operation_id="asyncapi",
    summary="AsyncAPI document of the events this service publishes",
    tags=["system"],
    security=NO_AUTH,
)
async def asyncapi(state: State) -> dict[str, Any]:
    return state.asyncapi


def _too_large_handler(max_bytes: int) -> Any:
    def handle(_: Request[Any, Any, Any], __: RequestEntityTooLarge) -> Response[dict[str, Any]]:
        mb = max_bytes / (1024 * 1024)
        return error_response(
            413,
            "file_too_large",
            f"the upload is larger than the limit: photos may be at most {mb:g} MB",
            {"max_bytes": max_bytes},
        )

    return handle


def create_app(settings: UploadSettings | None = None) -> Litestar:
    settings = settings or UploadSettings()
    configure_logging(SERVICE, settings.log)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per status lookup is noise
    register_heif()
    # Publish only (no consumer group to wait for): a dead broker fails an upload within publish_timeout_ms.
    broker: KafkaBroker = create_broker(
        settings.kafka, service=SERVICE, request_timeout_ms=settings.publish_timeout_ms
    )
    document_publishers(broker, settings.kafka, PUBLISHED_EVENTS)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with bootstrap(settings, broker=broker) as deps:
            app.state.ready_checks = {
                "storage": deps.storage.ping,
                "broker": lambda: broker.ping(timeout=settings.ready_timeout_s),
                "status_service": deps.status.ping,
            }
            app.state.deps = deps
            yield

    asyncapi_doc = AsyncAPI(broker, title="photo3d upload", version="1.0.0").to_specification().to_jsonable()
    metrics_middleware, metrics_controller = metrics.http_plugin(SERVICE)
    return Litestar(
        route_handlers=[PhotoController, StageController, health, ready, asyncapi, metrics_controller],
        dependencies={
            "deps": Provide(provide_deps, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=False),
        },
        middleware=[metrics_middleware, bearer_auth(TokenVerifier(settings.auth))],
        exception_handlers={
            **EXCEPTION_HANDLERS,
            RequestEntityTooLarge: _too_large_handler(settings.max_bytes),
        },
        cors_config=CORSConfig(
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_headers=["Authorization", "Content-Type"],
            allow_methods=["GET", "POST", "OPTIONS"],
        ),
        request_max_body_size=settings.request_max_body_size,
        before_send=[nosniff],
        lifespan=[lifespan],
        state=State({"asyncapi": asyncapi_doc, "ready_timeout_s": settings.ready_timeout_s}),
        openapi_config=OpenAPIConfig(
            title="photo3d upload",
            version="1.0.0",
            description="Photo uploads (validated, streamed to object storage) and stage re-runs.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
            security=[{"bearer": []}],
        ),
        logging_config=None,  # configure_logging owns logging; Litestar's default would replace it
        debug=False,
    )
