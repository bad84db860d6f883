"""Run an aiohttp application on 127.0.0.1 in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import Future
from typing import Self

from aiohttp import web


class ThreadedServer:
    """``with ThreadedServer(app) as server: server.url`` -> ``http://127.0.0.1:PORT``."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        ready: Future[None] = Future()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            self._runner = web.AppRunner(self._app, handle_signals=False, access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, self._sock).start()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(serve())
            except BaseException as error:  # noqa: BLE001 - report start-up failures to the caller
                ready.set_exception(error)
                return
            ready.set_result(None)
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"fake-server-{self.port}", daemon=True)
        self._thread.start()
        ready.result(timeout=10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: Provider settings for tests: poll and back off in milliseconds, so scenarios run in a fraction of a second.
FAST_POLLING: dict[str, float] = {
    "poll_interval_s": 0.02,
    "max_poll_interval_s": 0.05,
    "deadline_s": 10.0,
    "request_timeout_s": 5.0,
    "max_attempts": 4,
    "initial_backoff_s": 0.01,
    "max_backoff_s": 0.05,
}


class FakeService:
    """A local protocol server for tests: a subclass builds its aiohttp app and hands it to ``_serve``;
    this runs it (``with Fake() as fake: fake.url``)."""

    _server: ThreadedServer

    def _serve(self, app: web.Application) -> None:
        self._server = ThreadedServer(app)

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url
