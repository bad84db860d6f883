"""Composition root of the status service: the dependencies of the handlers and controllers, built from
settings and opened at start (``bootstrap``, run by the Litestar lifespan), closed at shutdown. Nothing
connects at import."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from faststream.kafka import KafkaBroker

from photo3d_common.broker import EventPublisher, ensure_topics
from photo3d_common.logging import get_logger
from photo3d_common.ports import Publisher
from photo3d_common.storage import ObjectStorage
from photo3d_status.creation_switch import CreationSwitch, read_switch
from photo3d_status.live import ModelChangeHub
from photo3d_status.migrate import migrate
from photo3d_status.repository import ModelRepository, keep_session
from photo3d_status.service import ModelService
from photo3d_status.settings import StatusSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class Deps:
    """Named dependencies: the event handlers take ``repository`` and ``publish``
    (``handlers.on_*(event, *, repository, publish)``); the controllers ``models``, ``settings`` and, for
    readiness, ``repository``, ``broker`` and ``storage``."""

    settings: StatusSettings
    broker: KafkaBroker
    repository: ModelRepository
    storage: ObjectStorage
    hub: ModelChangeHub
    publish: Publisher
    models: ModelService
    creation: Callable[[], Awaitable[CreationSwitch]]  # the operator's creation switch (migration 0006)


@contextlib.asynccontextmanager
async def bootstrap(
    settings: StatusSettings, *, broker: KafkaBroker, hub: ModelChangeHub
) -> AsyncIterator[Deps]:
    """``broker`` (with the consumers registered) and ``hub`` exist before the start: the AsyncAPI document
    is read from the broker, and a shutdown signal closes the hub's streams before the lifespan ends."""
    if settings.migrate_on_start:
        await migrate(settings.database_url)
    async with contextlib.AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=settings.db_connect_timeout_s,
            command_timeout=settings.db_command_timeout_s,
            reset=keep_session,
        )
        stack.push_async_callback(pool.close)
        repository = ModelRepository(pool)
        storage = await stack.enter_async_context(ObjectStorage(settings.s3))
        await hub.start()
        stack.push_async_callback(hub.stop)
        await ensure_topics(settings.kafka)
        await broker.start()
        stack.push_async_callback(broker.stop)
        publish = EventPublisher(broker, settings.kafka)
        creation = functools.partial(read_switch, pool)
        yield Deps(
            settings=settings,
            broker=broker,
            repository=repository,
            storage=storage,
            hub=hub,
            publish=publish,
            models=ModelService(
                repository=repository,
                storage=storage,
                hub=hub,
                publish=publish,
                providers=settings.providers,
                keepalive_s=settings.sse_keepalive_s,
                default_options=settings.default_options(),
                creation_switch=creation,
                db_request_timeout_s=settings.db_request_timeout_s,
            ),
            creation=creation,
        )
