"""An ASGI app served for real in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any


@contextlib.asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[str]:
    """``app`` under uvicorn in this event loop (startup, HTTP, shutdown as in production), so a proxy in the
    same loop keeps relaying while the app waits on it; yields the base URL."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, lifespan="on", timeout_graceful_shutdown=5
        )
    )
    task = asyncio.create_task(server._serve())  # serve() would take over the test runner's signals
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the app did not start")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
