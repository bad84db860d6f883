"""A dependency outage on demand: a TCP proxy in front of a real server (Postgres, S3) that a test can cut
(every connection reset, new ones refused, as when the server's process dies), freeze (connections
accepted and kept, nothing answered, as when the process is stopped or the network hangs) and restore, without
stopping the server the rest of the session shares. Not for Kafka: its clients connect to the address the
broker advertises, past any proxy (stop a broker of the test's own instead)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

from photo3d_devstack.infra._util import free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def cut(self) -> None:
        """The server is gone: connection refused from now on, open connections reset."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def freeze(self) -> None:
        """The server hangs (SIGSTOP): bytes are held, in both directions, until ``thaw``."""
        self._flowing.clear()

    async def thaw(self) -> None:
        self._flowing.set()

    async def restore(self) -> None:
        await self.start()

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)
        address = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{address}" if len(netloc) == 2 else address))

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    await self._flowing.wait()
                    writer.write(data)
                    await writer.drain()
            with contextlib.suppress(OSError):
                writer.close()

        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
        self._writers -= {client_writer, server_writer}


@contextlib.asynccontextmanager
async def proxied(url: str) -> AsyncIterator[TcpProxy]:
    """A started proxy in front of the server of ``url`` (``postgresql://...``, ``http://...``)."""
    parts = urlsplit(url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 80).start()
    try:
        yield proxy
    finally:
        await proxy.cut()
