"""The ``models`` table and its companions, through asyncpg. The only writer of ``models`` in the system.

Applying an event is one transaction: lock the model row, let the domain decide, log the event with its
outcome (an event id logged before, a redelivery, stops there), write the decision, queue
``model.status_changed`` in the outbox and ``NOTIFY model_status`` (delivered on commit). Row locks
serialise concurrent events for one model.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from photo3d_common.events import (
    VIEWS,
    Dimensions,
    Event,
    GenerationOptions,
    ModelStatus,
    ModelStatusChanged,
)
from photo3d_common.logging import get_logger
from photo3d_common.ports import Publisher
from photo3d_status import domain
from photo3d_status.domain import Applied, ModelState

log = get_logger(__name__)

NOTIFY_CHANNEL = "model_status"
OUTBOX_LOCK_ID = 0x70686F746F3365  # one outbox flusher at a time, across processes
PRODUCER = "status"
ASSET_COLUMNS = {"glb": "glb_key", "obj": "obj_key", "stl": "stl_key", "preview": "preview_key"}

_SELECT = "SELECT * FROM models"
# $1 status, $2 deadline in seconds: in that status, unchanged and without any event for longer than that
_STUCK = """SELECT id FROM models m
    WHERE status = $1::model_status AND updated_at < now() - make_interval(secs => $2)
      AND NOT EXISTS (SELECT 1 FROM event_log e
                      WHERE e.model_id = m.id AND e.at >= now() - make_interval(secs => $2))"""


@dataclass(frozen=True)
class ApplyResult:
    outcome: str  # applied | ignored | rejected | duplicate
    reason: str
    from_status: ModelStatus | None = None
    to_status: ModelStatus | None = None

    @property
    def status_changed(self) -> bool:
        return self.outcome == "applied" and self.from_status != self.to_status


class ModelNotFound(LookupError):
    pass


class ModelBusy(RuntimeError):
    def __init__(self, status: ModelStatus) -> None:
        super().__init__(status)
        self.status = status


def status_changed_event_id(
    cause_event_id: uuid.UUID | None, model_id: uuid.UUID, to: ModelStatus
) -> uuid.UUID:
    """Deterministic, so a re-published change carries the same id and integrations can drop the copy."""
    return uuid.uuid5(cause_event_id or model_id, f"model.status_changed:{to}")


def _json(value: Any) -> dict[str, Any]:
    """A jsonb column (asyncpg hands it over as text unless a codec is set)."""
    return json.loads(value) if isinstance(value, str) else dict(value or {})


def _row_to_state(row: Mapping[str, Any]) -> ModelState:
    assets = {fmt: row[column] for fmt, column in ASSET_COLUMNS.items() if row[column]}
    extra = row["extra_asset_keys"]
    assets.update(_json(extra))
    dimensions = _json(row["dimensions_m"]) if row["dimensions_m"] is not None else None
    return ModelState(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        status=ModelStatus(row["status"]),
        provider=row["provider"],
        progress=float(row["progress"]),
        stage_detail=row["stage_detail"],
        error_stage=row["error_stage"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        error_retryable=row["error_retryable"],
        photos={view: row[f"original_{view}_key"] for view in VIEWS if row[f"original_{view}_key"]},
        cutouts={view: row[f"cutout_{view}_key"] for view in VIEWS if row[f"cutout_{view}_key"]},
        assets=assets,
        vertex_count=row["vertex_count"],
        face_count=row["face_count"],
        options=GenerationOptions(
            height_m=row["height_m"],
            width_m=row["width_m"],
            target_faces=row["target_faces"],
            texture=row["texture"],
        ),
        dimensions_m=Dimensions.model_validate(dimensions) if dimensions else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        completed_at=row["completed_at"],
        status_changed_at=row["status_changed_at"],
        run_triggered_at=row["run_triggered_at"],
        photo_warnings=_json(row["photo_warnings"]),
    )


def _state_columns(state: ModelState) -> dict[str, Any]:
    """The mutable columns of a model, from its domain state."""
    columns: dict[str, Any] = {
        "status": str(state.status),
        "provider": state.provider,
        "progress": state.progress,
        "stage_detail": state.stage_detail,
        "error_stage": state.error_stage,
        "error_code": state.error_code,
        "error_message": state.error_message,
        "error_retryable": state.error_retryable,
        "vertex_count": state.vertex_count,
        "face_count": state.face_count,
        "height_m": state.options.height_m,
        "width_m": state.options.width_m,
        "target_faces": state.options.target_faces,
        "texture": state.options.texture,
        "dimensions_m": state.dimensions_m.model_dump_json() if state.dimensions_m else None,
        "completed_at": state.completed_at,
        "status_changed_at": state.status_changed_at,
        "run_triggered_at": state.run_triggered_at,
    }
    for view in VIEWS:
        columns[f"original_{view}_key"] = state.photos.get(view)
        columns[f"cutout_{view}_key"] = state.cutouts.get(view)
    for fmt, column in ASSET_COLUMNS.items():
        columns[column] = state.assets.get(fmt)
    columns["photo_warnings"] = json.dumps(dict(state.photo_warnings))
    columns["extra_asset_keys"] = json.dumps(
        {fmt: key for fmt, key in state.assets.items() if fmt not in ASSET_COLUMNS}
    )
    return columns


async def keep_session(connection: asyncpg.Connection) -> None:
    """The pool's ``reset``: nothing to undo on a connection given back. Its transactions end when their
    block does (asyncpg rolls back one left open, whatever this does), and nothing here changes a session
    beyond one (locks and isolation are transaction-scoped, LISTEN has a connection of its own), so
    asyncpg's default reset query (unlock all, CLOSE ALL, UNLISTEN *, RESET ALL) would be one more round
    trip per use of the pool for nothing."""


class ModelRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- reads -----------------------------------------------------------------------------------------

    async def get(self, model_id: uuid.UUID, *, owner: str | None = None) -> ModelState | None:
        if owner is None:
            row = await self.pool.fetchrow(f"{_SELECT} WHERE id = $1", model_id)
        else:
            row = await self.pool.fetchrow(f"{_SELECT} WHERE id = $1 AND owner = $2", model_id, owner)
        return _row_to_state(row) if row else None

    async def list_for_owner(self, owner: str, *, limit: int, offset: int) -> tuple[list[ModelState], int]:
        async with self.pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
            total = await connection.fetchval("SELECT count(*) FROM models WHERE owner = $1", owner)
            rows = await connection.fetch(
                f"{_SELECT} WHERE owner = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
                owner,
                limit,
                offset,
            )
        return [_row_to_state(row) for row in rows], int(total)

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    # --- writes from the API ---------------------------------------------------------------------------

    async def create(
        self, *, owner: str, name: str, provider: str | None, options: GenerationOptions | None = None
    ) -> ModelState:
        model_id = uuid.uuid4()
        options = options or GenerationOptions()
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                """INSERT INTO models (id, owner, name, provider, status, height_m, width_m, target_faces, texture)
                   VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8) RETURNING *""",
                model_id,
                owner,
                name,
                provider,
                options.height_m,
                options.width_m,
                options.target_faces,
                options.texture,
            )
            state = _row_to_state(row)
            await self._record_change(connection, state, None, cause=None)
        return state

    async def delete(
        self,
        model_id: uuid.UUID,
        *,
        owner: str,
        force: bool = False,
        before_delete: Callable[[ModelState], Awaitable[None]] | None = None,
    ) -> ModelState:
        """Delete a model. ``before_delete`` (removing its stored objects) runs while the row is locked, so
        no event changes the model meanwhile; if it fails, the model stays and the delete can be retried."""
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                f"{_SELECT} WHERE id = $1 AND owner = $2 FOR UPDATE", model_id, owner
            )
            if row is None:
                raise ModelNotFound(model_id)
            state = _row_to_state(row)
            if state.status in domain.PROCESSING and not force:
                raise ModelBusy(state.status)
            if before_delete is not None:
                await before_delete(state)
            await connection.execute("DELETE FROM models WHERE id = $1", model_id)
            await connection.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(model_id))
        return state

    # --- events ------------------------------------------------------------------------------------------

    async def apply(self, event: Event) -> ApplyResult:
        async with self.pool.acquire() as connection, connection.transaction():
            return await self._apply_in(connection, event)

    async def stuck(self, status: ModelStatus, deadline_s: float, *, limit: int = 100) -> list[uuid.UUID]:
        """Models in ``status`` with no event (applied or not) for longer than ``deadline_s``."""
        rows = await self.pool.fetch(_STUCK + " LIMIT $3", str(status), deadline_s, limit)
        return [row["id"] for row in rows]

    async def fail_if_stuck(
        self,
        model_id: uuid.UUID,
        status: ModelStatus,
        deadline_s: float,
        failure: Callable[[ModelState], Event],
    ) -> ApplyResult | None:
        """Apply ``failure(model)`` if the model is still stuck, checked under its row lock (a model that
        moved on meanwhile is left alone); None when it is not stuck any more."""
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                _STUCK + " AND id = $3 FOR UPDATE SKIP LOCKED", str(status), deadline_s, model_id
            )
            if row is None:
                return None
            state = _row_to_state(await connection.fetchrow(f"{_SELECT} WHERE id = $1", model_id))
            return await self._apply_in(connection, failure(state))

    async def _apply_in(self, connection: asyncpg.Connection, event: Event) -> ApplyResult:
        """One event, within the caller's transaction. The row lock comes first, so the event's log entry
        is written once, with its outcome; an event id logged before (a redelivery, or the same event
        applied by another instance meanwhile: it waited on the lock) stops there, having written nothing."""
        row = await connection.fetchrow(f"{_SELECT} WHERE id = $1 FOR UPDATE", event.model_id)
        current = _row_to_state(row) if row else None
        decision = domain.decide(current, event)
        from_status = current.status if current else None
        to_status = decision.new.status if isinstance(decision, Applied) else None
        first_time = await connection.fetchval(
            """INSERT INTO event_log
                   (event_id, model_id, topic, event_type, occurred_at, outcome, reason, from_status, to_status)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (event_id) DO NOTHING
               RETURNING true""",
            event.event_id,
            event.model_id,
            event.topic,
            type(event).__name__,
            event.occurred_at,
            decision.outcome,
            decision.reason or None,
            from_status,
            to_status,
        )
        if not first_time:
            return ApplyResult("duplicate", "event already handled")
        if isinstance(decision, Applied) and current is not None and decision.new != current:
            columns = _state_columns(decision.new)
            assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(columns, start=2))
            updated = await connection.fetchrow(
                f"UPDATE models SET {assignments} WHERE id = $1 RETURNING *",
                event.model_id,
                *columns.values(),
            )
            await self._record_change(connection, _row_to_state(updated), current.status, cause=event)
        return ApplyResult(decision.outcome, decision.reason, from_status, to_status)

    async def _record_change(
        self,
        connection: asyncpg.Connection,
        state: ModelState,
        from_status: ModelStatus | None,
        *,
        cause: Event | None,
    ) -> None:
        """Within the writing transaction: tell listeners (SSE) and, for a status change, history and Kafka.
        A move that skips statuses (events consumed out of order) records each skipped one first, in order,
        marked ``inferred`` (the cause is the event that proved it)."""
        await connection.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(state.id))
        if from_status == state.status:
            return
        previous = from_status
        steps = domain.passed_through(from_status, state.status)
        for step in steps:
            inferred = step != state.status
            await connection.execute(
                """INSERT INTO model_status_history
                       (model_id, from_status, to_status, cause_event_id, cause_topic, inferred)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                state.id,
                previous,
                step,
                cause.event_id if cause else None,
                cause.topic if cause else None,
                inferred,
            )
            changed = ModelStatusChanged(
                event_id=status_changed_event_id(cause.event_id if cause else None, state.id, step),
                model_id=state.id,
                producer=PRODUCER,
                owner=state.owner,
                previous_status=previous,
                status=step,
                progress=1.0 if inferred else state.progress,
                cause_event_id=cause.event_id if cause else None,
                cause_topic=cause.topic if cause else None,
                inferred=inferred,
                error_stage=None if inferred else state.error_stage,
                error_message=None if inferred else state.error_message,
            )
            await connection.execute(
                "INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3::jsonb)",
                ModelStatusChanged.topic,
                str(state.id),
                changed.model_dump_json(),
            )
            previous = step

    async def flush_outbox(self, publish: Publisher, *, batch: int = 100) -> int:
        """Publish queued status changes in order and delete them. One flusher at a time (a transaction-
        scoped advisory lock, across processes), so changes go out in the order they were made; a failed
        publish rolls back, leaving that change and the later ones for the next try."""
        sent = 0
        while True:
            async with self.pool.acquire() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", OUTBOX_LOCK_ID)
                # taken out and read in one statement; a failed publish rolls the deletion back
                rows = await connection.fetch(
                    """DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT $1)
                       RETURNING id, payload""",
                    batch,
                )
                for row in sorted(rows, key=lambda row: row["id"]):
                    await publish(ModelStatusChanged.model_validate_json(row["payload"]))
                    sent += 1
            if len(rows) < batch:
                return sent
