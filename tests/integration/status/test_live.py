"""The LISTEN/NOTIFY hub: fan-out to several watchers, and recovery when its connection is lost."""

from __future__ import annotations

import uuid

import asyncpg

from photo3d_status.live import ModelChangeHub
from photo3d_status.repository import NOTIFY_CHANNEL


async def notify(url: str, model_id: uuid.UUID) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(model_id))
    finally:
        await connection.close()


async def test_fan_out_only_to_watchers_of_that_model(status_database_url):
    hub = ModelChangeHub(status_database_url)
    await hub.start()
    try:
        watched, other = uuid.uuid4(), uuid.uuid4()
        async with hub.subscribe(watched) as a, hub.subscribe(watched) as b, hub.subscribe(other) as c:
            await notify(status_database_url, watched)
            assert await a.wait(5) and await b.wait(5)
            assert not await c.wait(0.3)
        assert hub.subscriber_count == 0
    finally:
        await hub.stop()


async def test_lost_listener_connection_reconnects_and_wakes_watchers(status_database_url):
    hub = ModelChangeHub(status_database_url, reconnect_delay_s=0.1)
    await hub.start()
    try:
        model_id = uuid.uuid4()
        async with hub.subscribe(model_id) as subscription:
            admin = await asyncpg.connect(status_database_url)
            try:
                terminated = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                )
            finally:
                await admin.close()
            assert terminated >= 1
            # after reconnecting, every watcher re-reads (changes may have been missed meanwhile)
            assert await subscription.wait(10)
            await notify(status_database_url, model_id)  # and new notifications arrive again
            assert await subscription.wait(10)
    finally:
        await hub.stop()
