"""Liveness and readiness of a worker, for compose and Kubernetes probes (the HTTP services have their own
``/health`` and ``/ready`` routes).

A worker with ``<PREFIX>_PROBE_PORT`` set answers on that port:

- ``GET /health`` -> 200 ``{"status": "ok"}`` while its event loop runs (liveness: restart it otherwise);
- ``GET /ready`` -> 200 when it has started and every dependency answers (object store, broker), else 503;
  the body names each dependency's state and what a consumer is waiting for, e.g.
  ``{"status": "unavailable", "dependencies": {"storage": "error: EndpointConnectionError ..."},
  "waiting_on": {"storage_unavailable": "..."}}``.

Kubernetes: ``livenessProbe: {httpGet: {path: /health, port: 8090}}`` and
``readinessProbe: {httpGet: {path: /ready, port: 8090}, periodSeconds: 10}``; compose:
``healthcheck: {test: ["CMD", "python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8090/ready', timeout=3)"]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from photo3d_common.errors import DependencyUnavailable, error_envelope
from photo3d_common.logging import get_logger

log = get_logger(__name__)

Check = Callable[[], Awaitable[Any]]


class Health:
    """What a worker knows about itself: started or not, and which dependency its consumers wait for."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.started = False
        self.checks: dict[str, Check] = {}
        self.waiting_on: dict[str, tuple[str, float]] = {}

    def dependency_down(self, error: DependencyUnavailable) -> None:
        self.waiting_on.setdefault(error.code, (str(error.detail or error.message), time.time()))

    def dependencies_up(self) -> None:
        self.waiting_on.clear()

    async def readiness(self, timeout_s: float = 2.0) -> tuple[bool, dict[str, Any]]:
        dependencies: dict[str, str] = {}
        for name, check in self.checks.items():
            try:
                await asyncio.wait_for(check(), timeout_s)
                dependencies[name] = "ok"
            except Exception as error:  # noqa: BLE001 - reported, not raised
                dependencies[name] = f"error: {type(error).__name__}: {error}"[:300]
        ready = self.started and all(state == "ok" for state in dependencies.values())
        body = {
            "status": "ready" if ready else ("unavailable" if self.started else "starting"),
            "service": self.service,
            "dependencies": dependencies,
            "waiting_on": {code: reason for code, (reason, _) in self.waiting_on.items()},
        }
        return ready, body


async def _answer(health: Health, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await asyncio.wait_for(reader.readline(), 5)
        while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
            pass  # headers: not needed
        parts = request.decode("latin-1").split()
        path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
        body: dict[str, Any]
        if path == "/health":
            status, body = 200, {"status": "ok", "service": health.service}
        elif path == "/ready":
            ready, body = await health.readiness()
            status = 200 if ready else 503
        else:
            status, body = 404, error_envelope("not_found", "use /health or /ready")
        payload = json.dumps(body).encode()
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def probe_server(
    health: Health, port: int | None, *, host: str = "0.0.0.0", checks: Mapping[str, Check] | None = None
) -> AsyncIterator[None]:
    """Serve ``/health`` and ``/ready`` on ``port`` while the block runs (nothing when ``port`` is None);
    ``health.started`` is set inside the block."""
    health.checks.update(checks or {})
    server = None
    if port is not None:
        server = await asyncio.start_server(lambda r, w: _answer(health, r, w), host, port)
        log.info("probes listening", port=port, paths=["/health", "/ready"])
    health.started = True
    try:
        yield
    finally:
        health.started = False
        if server is not None:
            server.close()
            await server.wait_closed()
