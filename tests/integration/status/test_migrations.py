"""Migrations against a real Postgres: from empty, re-run, concurrent starts, the legacy photos table."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import asyncpg
import pytest

from photo3d_status.migrate import MigrationError, load_migrations, migrate


async def fetch(url: str, query: str, *args):
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def execute(url: str, query: str, *args) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(query, *args)
    finally:
        await connection.close()


async def test_from_empty_creates_the_schema(make_database):
    url = make_database("mig_empty")
    versions = [m.version for m in load_migrations()]
    assert await migrate(url) == versions
    tables = {
        r["tablename"] for r in await fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname='public'")
    }
    assert {"models", "event_log", "model_status_history", "outbox", "schema_migrations"} <= tables
    assert "photos" not in tables
    labels = [
        r["enumlabel"]
        for r in await fetch(
            url,
            "SELECT enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
            "WHERE t.typname = 'model_status' ORDER BY e.enumsortorder",
        )
    ]
    assert labels == [
        "draft",
        "uploading_photos",
        "photos_uploaded",
        "removing_background",
        "generating_3d_model",
        "completed",
        "failed",
    ]
    indexes = {
        r["indexname"]: r["indexdef"]
        for r in await fetch(url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename='models'")
    }
    assert "(owner, created_at DESC, id DESC)" in indexes["models_owner_created_idx"]
    assert "(status)" in indexes["models_status_idx"]


async def test_updated_at_is_maintained_by_the_trigger(make_database):
    url = make_database("mig_trigger")
    await migrate(url)
    model_id = uuid.uuid4()
    await execute(
        url,
        "INSERT INTO models (id, owner, name, updated_at) VALUES ($1, 'a', 'n', now() - interval '1 hour')",
        model_id,
    )
    before = (await fetch(url, "SELECT updated_at FROM models WHERE id=$1", model_id))[0][0]
    await execute(url, "UPDATE models SET name='m' WHERE id=$1", model_id)
    after = (await fetch(url, "SELECT updated_at FROM models WHERE id=$1", model_id))[0][0]
    assert (after - before).total_seconds() > 3000


async def test_rerun_is_a_no_op(make_database):
    url = make_database("mig_rerun")
    await migrate(url)
    assert await migrate(url) == []
    assert len(await fetch(url, "SELECT * FROM schema_migrations")) == len(load_migrations())


async def test_concurrent_starts_apply_each_migration_once(make_database):
    url = make_database("mig_race")
    results = await asyncio.gather(*(migrate(url) for _ in range(6)))
    applied = sorted(v for result in results for v in result)
    assert applied == [m.version for m in load_migrations()]


async def test_an_edited_applied_migration_is_refused(make_database):
    url = make_database("mig_edit")
    migrations = load_migrations()
    await migrate(url, migrations)
    edited = [dataclasses.replace(migrations[0], sql=migrations[0].sql + "\n-- edited\n"), *migrations[1:]]
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(url, edited)


LEGACY = """
CREATE TABLE photos (
    id serial PRIMARY KEY, model_id uuid NOT NULL, user_id text NOT NULL, angle text NOT NULL,
    s3_key text NOT NULL, created_at timestamptz NOT NULL DEFAULT now()
)"""


async def test_legacy_photos_move_into_models(make_database):
    url = make_database("mig_legacy")
    complete, partial = uuid.uuid4(), uuid.uuid4()
    await execute(url, LEGACY)
    rows = [
        (complete, "alice", "front", "old/front-1.jpg", "2024-01-01T10:00:00Z"),
        (complete, "alice", " Front ", "old/front-2.jpg", "2024-01-01T10:05:00Z"),  # a retake wins
        (complete, "alice", "left", "old/left.jpg", "2024-01-01T10:01:00Z"),
        (complete, "alice", "RIGHT", "old/right.jpg", "2024-01-01T10:02:00Z"),
        (complete, "alice", "back", "old/back.jpg", "2024-01-01T10:03:00Z"),
        (partial, "bob", "front", "old/b-front.jpg", "2024-02-01T09:00:00Z"),
        (partial, "bob", "back", "old/b-back.jpg", "2024-02-01T09:01:00Z"),
    ]
    connection = await asyncpg.connect(url)
    try:
        await connection.executemany(
            "INSERT INTO photos (model_id, user_id, angle, s3_key, created_at) VALUES ($1, $2, $3, $4, $5::text::timestamptz)",
            rows,
        )
    finally:
        await connection.close()

    await migrate(url)

    assert (await fetch(url, "SELECT to_regclass('photos') AS t"))[0]["t"] is None
    models = {r["id"]: r for r in await fetch(url, "SELECT * FROM models")}
    assert set(models) == {complete, partial}
    a = models[complete]
    assert (a["owner"], a["status"], a["progress"]) == ("alice", "photos_uploaded", 1.0)
    assert (
        a["original_front_key"],
        a["original_left_key"],
        a["original_right_key"],
        a["original_back_key"],
    ) == ("old/front-2.jpg", "old/left.jpg", "old/right.jpg", "old/back.jpg")
    assert a["created_at"].isoformat().startswith("2024-01-01T10:00:00")
    b = models[partial]
    assert (b["owner"], b["status"], b["progress"]) == ("bob", "uploading_photos", 0.5)
    assert (b["original_front_key"], b["original_left_key"], b["original_back_key"]) == (
        "old/b-front.jpg",
        None,
        "old/b-back.jpg",
    )


async def test_legacy_rows_that_cannot_be_placed_stop_the_migration(make_database):
    url = make_database("mig_legacy_bad")
    await execute(url, LEGACY)
    await execute(
        url,
        "INSERT INTO photos (model_id, user_id, angle, s3_key) VALUES ($1, 'a', 'top', 'k')",
        uuid.uuid4(),
    )
    with pytest.raises(asyncpg.RaiseError, match="unknown angles \\(top\\)"):
        await migrate(url)
    # nothing lost: the legacy table is still there; the failed step is not recorded, so it runs again
    assert len(await fetch(url, "SELECT * FROM photos")) == 1
    assert [r["version"] for r in await fetch(url, "SELECT version FROM schema_migrations")] == [1]
    await execute(url, "UPDATE photos SET angle = 'front'")
    assert await migrate(url) == [m.version for m in load_migrations()][1:]
    assert len(await fetch(url, "SELECT * FROM models")) == 1
