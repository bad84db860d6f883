"""Live model changes for the SSE streams: one ``LISTEN model_status`` connection per process, fanned out
in memory to every stream watching that model. Whichever status process applied a change, Postgres tells
all of them, so a browser may be connected to any instance."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg

from photo3d_common.logging import get_logger
from photo3d_status.repository import NOTIFY_CHANNEL

log = get_logger(__name__)


class Closed(Exception):
    """The hub is shutting down: streams end."""


class Subscription:
    def __init__(self, hub: ModelChangeHub, model_id: uuid.UUID) -> None:
        self.hub = hub
        self.model_id = model_id
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        self._changed.set()

    async def wait(self, timeout: float) -> bool:
        """True when the model changed (or may have: after a reconnect), False on timeout.
        Raises ``Closed`` at shutdown."""
        if self.hub.closed:
            raise Closed
        closing = asyncio.ensure_future(self.hub._closing.wait())
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({closing, changed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            changed.cancel()
        if self.hub.closed:
            raise Closed
        if self._changed.is_set():
            self._changed.clear()  # changes while we were busy collapse into one re-read
            return True
        return False


class ModelChangeHub:
    def __init__(self, database_url: str, *, reconnect_delay_s: float = 1.0) -> None:
        self.database_url = database_url
        self.reconnect_delay_s = reconnect_delay_s
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = defaultdict(set)
        self._closing = asyncio.Event()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="model-change-listener")
        # Streams opened before the listener is up would miss changes: wait for the first connection.
        done, _ = await asyncio.wait(
            {asyncio.ensure_future(self._connected.wait()), self._task}, return_when=asyncio.FIRST_COMPLETED
        )
        if self._task in done:
            self._task.result()  # raises what went wrong

    def close(self) -> None:
        """Ends every stream (call it as soon as shutdown begins, so open streams don't hold it up)."""
        self._closing.set()

    async def stop(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def subscribe(self, model_id: uuid.UUID) -> AsyncIterator[Subscription]:
        subscription = Subscription(self, model_id)
        self._subscriptions[model_id].add(subscription)
        try:
            yield subscription
        finally:
            watchers = self._subscriptions.get(model_id)
            if watchers is not None:
                watchers.discard(subscription)
                if not watchers:
                    del self._subscriptions[model_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscriptions.values())

    def _on_notification(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            model_id = uuid.UUID(payload)
        except ValueError:
            log.warning("unexpected notification payload", payload=payload)
            return
        for subscription in self._subscriptions.get(model_id, ()):
            subscription._notify()

    def _wake_all(self) -> None:
        for watchers in self._subscriptions.values():
            for subscription in watchers:
                subscription._notify()

    async def _run(self) -> None:
        first = True
        while not self.closed:
            try:
                connection = await asyncpg.connect(self.database_url)
            except (OSError, asyncpg.PostgresError) as error:
                if first:
                    raise
                log.warning("listener cannot connect, retrying", error=str(error))
                await asyncio.sleep(self.reconnect_delay_s)
                continue
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await connection.add_listener(NOTIFY_CHANNEL, self._on_notification)
                if not first:
                    self._wake_all()  # changes may have been missed while disconnected: everyone re-reads
                first = False
                self._connected.set()
                await lost.wait()
                log.warning("listener connection lost, reconnecting")
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), timeout=2)
