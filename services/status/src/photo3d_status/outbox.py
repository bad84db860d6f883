"""The outbox sweeper: a background job of the status service, beside the consumers and the API.

Every applied event queues its status change in the outbox within the same transaction, and the consumer
publishes it right away; the sweeper publishes what a crash or a broker outage left queued
(docs/adr/0006-status-changes-through-an-outbox.md)."""

from __future__ import annotations

import asyncio
import contextlib

from photo3d_common.concurrency import in_background
from photo3d_common.logging import get_logger
from photo3d_common.ports import Publisher
from photo3d_status.ports import EventStore

log = get_logger(__name__)


class OutboxSweeper:
    def __init__(self, store: EventStore, publish: Publisher, *, interval_s: float) -> None:
        self.store = store
        self.publish = publish
        self.interval_s = interval_s

    async def sweep(self) -> int:
        """One round: publish what is queued; a failure is logged and left for the next round."""
        try:
            sent = await self.store.flush_outbox(self.publish)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - retried next round
            log.warning("outbox sweep failed", error=str(error))
            return 0
        if sent:
            log.info("queued status changes published", count=sent)
        return sent

    async def run(self) -> None:
        while True:
            await self.sweep()
            await asyncio.sleep(self.interval_s)

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Sweeps in the background while the block runs; stopped (cancelled, awaited) when it ends."""
        return in_background(self.run, name="outbox-sweeper")
