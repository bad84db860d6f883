"""The operator's creation switch as the upload service sees it: read from the status service's
``/config.json`` (the status service owns the switch) and kept for a few seconds, so flipping it needs no
restart and costs no lookup per photo. While it is off, uploads and re-runs answer 503 ``creation_disabled``
with the operator's notice; nothing is stored."""

from __future__ import annotations

import time
from typing import Any

import httpx

from photo3d_common.errors import CreationDisabled
from photo3d_common.logging import get_logger

log = get_logger(__name__)

FALLBACK_NOTICE = "Creating new models is switched off for maintenance."


class CreationGate:
    def __init__(self, http: httpx.AsyncClient, *, ttl_s: float, clock: Any = time.monotonic) -> None:
        self.http = http
        self.ttl_s = ttl_s
        self.clock = clock
        self._state: tuple[bool, str | None] = (True, None)
        self._fetched_at: float | None = None

    async def state(self) -> tuple[bool, str | None]:
        now = self.clock()
        if self._fetched_at is None or now - self._fetched_at >= self.ttl_s:
            try:
                response = await self.http.get("/config.json")
                response.raise_for_status()
                config = response.json()
                self._state = (config.get("creationEnabled", True) is not False, config.get("creationNotice"))
            except (httpx.HTTPError, ValueError) as error:
                # keep the last known state: the status lookup of the model will report an outage itself
                log.warning("creation switch not refreshed", error=f"{type(error).__name__}: {error}")
            self._fetched_at = now
        return self._state

    async def check(self) -> None:
        enabled, notice = await self.state()
        if not enabled:
            raise CreationDisabled(notice or FALLBACK_NOTICE)


async def creation_enabled(connection: Any, _handler: Any) -> None:
    """Litestar guard of the routes that create or re-run work (uploads, stage re-runs)."""
    await connection.app.state.deps.creation.check()
