"""The outbox sweeper on an in-memory store: it publishes what is queued, outlives a failing round, and
stops with the block that runs it."""

from __future__ import annotations

import asyncio

from photo3d_status.outbox import OutboxSweeper


class QueuedStore:
    def __init__(self, queued: list[str], failures: int = 0) -> None:
        self.queued = queued
        self.failures = failures
        self.rounds = 0

    async def apply(self, event):  # the EventStore's other half, unused by the sweeper
        raise AssertionError("the sweeper never applies events")

    async def flush_outbox(self, publish) -> int:
        self.rounds += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("broker down")
        sent = 0
        while self.queued:
            await publish(self.queued.pop(0))
            sent += 1
        return sent


async def test_a_round_publishes_what_is_queued_in_order():
    published: list[str] = []

    async def publish(event) -> None:
        published.append(event)

    store = QueuedStore(["a", "b"])
    assert await OutboxSweeper(store, publish, interval_s=1).sweep() == 2
    assert published == ["a", "b"] and store.queued == []


async def test_a_failing_round_is_retried_and_the_sweeper_stops_with_its_block():
    published: list[str] = []

    async def publish(event) -> None:
        published.append(event)

    store = QueuedStore(["a"], failures=2)
    async with OutboxSweeper(store, publish, interval_s=0.01).running():
        for _ in range(500):
            if published:
                break
            await asyncio.sleep(0.01)
    rounds = store.rounds
    await asyncio.sleep(0.05)
    assert published == ["a"] and rounds >= 3
    assert store.rounds == rounds  # stopped: no round after the block ended
