"""The deploy tool's side of the creation switch: read and flip it in the environment's database through
the status service's own code (``photo3d_status.creation_switch``), so the services see the change at once,
without a restart or a redeploy of the page."""

from __future__ import annotations

import getpass

import asyncpg

from photo3d_status.creation_switch import CreationSwitch, read_switch, write_switch

from ..infra._util import run_coroutine


def read(database_url: str) -> CreationSwitch | None:
    """The switch, or None when the database has no schema yet."""

    async def fetch() -> CreationSwitch | None:
        connection = await asyncpg.connect(database_url, timeout=10)
        try:
            if not await connection.fetchval("SELECT to_regclass('creation_switch') IS NOT NULL"):
                return None
            return await read_switch(connection)
        finally:
            await connection.close()

    return run_coroutine(fetch())


def write(database_url: str, state: CreationSwitch, *, changed_by: str | None = None) -> CreationSwitch:
    async def store() -> CreationSwitch:
        connection = await asyncpg.connect(database_url, timeout=10)
        try:
            return await write_switch(
                connection,
                enabled=state.enabled,
                notice=state.notice,
                changed_by=changed_by or state.changed_by or f"photo3d deploy ({getpass.getuser()})",
            )
        finally:
            await connection.close()

    return run_coroutine(store())
