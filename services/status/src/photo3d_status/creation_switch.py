"""The creation switch (migration 0006): whether users may create models, and the notice shown when they
may not. The status service owns it like every table of its database; operators flip it with
``python -m photo3d_status creation on|off`` (or ``photo3d deploy ENV --ui-off``), no restart needed:
``/config.json`` reads it on every request, the upload service with a short cache."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

DEFAULT_NOTICE = "Creating new models is switched off for maintenance; your existing models stay available."


@dataclass(frozen=True)
class CreationSwitch:
    enabled: bool
    notice: str | None = None
    changed_at: datetime | None = None
    changed_by: str | None = None


ON = CreationSwitch(enabled=True)


async def read_switch(connection: asyncpg.Connection | asyncpg.Pool) -> CreationSwitch:
    """The switch; on (with no notice) while the table does not exist yet (before migration 0006)."""
    try:
        row = await connection.fetchrow(
            "SELECT enabled, notice, changed_at, changed_by FROM creation_switch WHERE singleton"
        )
    except asyncpg.UndefinedTableError:
        return ON
    if row is None:
        return ON
    return CreationSwitch(row["enabled"], row["notice"], row["changed_at"], row["changed_by"])


async def write_switch(
    connection: asyncpg.Connection | asyncpg.Pool, *, enabled: bool, notice: str | None, changed_by: str
) -> CreationSwitch:
    """Turn creation on or off. Off always carries a notice (the default one when none is given)."""
    notice = (notice or DEFAULT_NOTICE).strip() if not enabled else (notice or None)
    row = await connection.fetchrow(
        """INSERT INTO creation_switch (singleton, enabled, notice, changed_at, changed_by)
               VALUES (true, $1, $2, now(), $3)
           ON CONFLICT (singleton) DO UPDATE
               SET enabled = EXCLUDED.enabled, notice = EXCLUDED.notice,
                   changed_at = EXCLUDED.changed_at, changed_by = EXCLUDED.changed_by
           RETURNING enabled, notice, changed_at, changed_by""",
        enabled,
        notice,
        changed_by,
    )
    return CreationSwitch(row["enabled"], row["notice"], row["changed_at"], row["changed_by"])
