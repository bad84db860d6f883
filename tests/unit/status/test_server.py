"""The status server's shutdown signal ends the open event streams from the event loop."""

from __future__ import annotations

import asyncio
import signal

import uvicorn

from photo3d_status.__main__ import StatusServer
from photo3d_status.live import ModelChangeHub


async def test_a_shutdown_signal_closes_the_event_streams_on_the_loop_not_in_the_signal_handler():
    hub = ModelChangeHub("postgresql://nobody@127.0.0.1:1/nothing")
    server = StatusServer(uvicorn.Config(app=lambda scope, receive, send: None), hub)
    server.loop = asyncio.get_running_loop()  # as its startup sets it

    server.handle_exit(signal.SIGTERM, None)

    # a signal handler can run inside asyncio.Event.wait, between its check and its wait: a set() from
    # there would be lost, and a stream would wait on to its next keep-alive
    assert not hub.closed and server.should_exit
    await asyncio.sleep(0)
    assert hub.closed
