"""The repository on a real Postgres: one transaction per event, idempotent, serialised per model."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from photo3d_common.events import (
    BackgroundRemovalStarted,
    BackgroundRemoved,
    Dimensions,
    GenerationOptions,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    ModelStatus,
    ModelStatusChanged,
    PhotoUploaded,
    Stage,
    StageProgressed,
    ViewWarning,
)
from photo3d_status.handlers import apply_event
from photo3d_status.migrate import migrate
from photo3d_status.repository import NOTIFY_CHANNEL, ModelRepository

VIEWS = ("front", "left", "right", "back")


@pytest.fixture(scope="module")
async def repository_database_url(make_database) -> str:
    """A database of this module's own: no running app's outbox sweep or listener takes part."""
    url = make_database("repository")
    await migrate(url)
    return url


@pytest.fixture(scope="module")
async def pool(repository_database_url: str):
    pool = await asyncpg.create_pool(repository_database_url, min_size=2, max_size=25)
    yield pool
    await pool.close()


def photo(model_id: uuid.UUID, view: str, stored: tuple[str, ...]) -> PhotoUploaded:
    keys = {v: f"models/{model_id}/originals/{v}" for v in stored}
    return PhotoUploaded(
        model_id=model_id,
        producer="upload",
        view=view,
        object_key=keys[view],
        content_type="image/jpeg",
        width=10,
        height=10,
        size_bytes=100,
        sha256="0" * 64,
        original_keys=keys,
        all_views_uploaded=len(stored) == 4,
        start_processing=len(stored) == 4,
    )


async def log_rows(pool: asyncpg.Pool, model_id: uuid.UUID):
    return await pool.fetch("SELECT * FROM event_log WHERE model_id = $1 ORDER BY at", model_id)


class Published(list):
    async def __call__(self, event: ModelStatusChanged) -> None:
        self.append(event)


async def drain(repository: ModelRepository) -> Published:
    published = Published()
    await repository.flush_outbox(published)
    return published


async def test_create_records_a_draft_and_queues_the_change(repository: ModelRepository):
    await drain(repository)
    model = await repository.create(owner="alice", name="mug", provider="local")
    assert model.status == ModelStatus.DRAFT and model.provider == "local" and model.created_at
    published = await drain(repository)
    assert [(e.model_id, e.previous_status, e.status, e.owner) for e in published] == [
        (model.id, None, ModelStatus.DRAFT, "alice")
    ]


async def test_full_journey_through_the_pipeline(repository: ModelRepository, pool: asyncpg.Pool):
    model = await repository.create(owner="alice", name="mug", provider=None)
    await drain(repository)
    published = Published()
    events = [photo(model.id, v, VIEWS[: i + 1]) for i, v in enumerate(VIEWS)] + [
        BackgroundRemovalStarted(model_id=model.id, producer="bgremoval"),
        StageProgressed(
            model_id=model.id,
            producer="bgremoval",
            stage=Stage.BACKGROUND_REMOVAL,
            progress=0.5,
            detail="2 of 4",
        ),
        BackgroundRemoved(
            model_id=model.id,
            producer="bgremoval",
            source_fingerprint="f",
            cutout_keys={v: f"models/{model.id}/cutouts/{v}.png" for v in VIEWS},
            view_warnings={"left": [ViewWarning(code="cutout_corrected", message="part removed")]},
        ),
        GenerationStarted(model_id=model.id, producer="generation", provider="local"),
        ModelGenerated(
            model_id=model.id,
            producer="generation",
            provider="local",
            vertex_count=8,
            face_count=12,
            asset_keys={
                "glb": f"models/{model.id}/assets/model.glb",
                "mtl": f"models/{model.id}/assets/model.mtl",
                "usdz": f"models/{model.id}/assets/model.usdz",
            },
            options=GenerationOptions(height_m=0.3, target_faces=5000),
            dimensions_m=Dimensions(x=0.2, y=0.3, z=0.1),
        ),
    ]
    for event in events:
        result = await apply_event(event, repository=repository, publish=published)
        assert result.outcome == "applied", result
    final = await repository.get(model.id)
    assert final.status == ModelStatus.COMPLETED and final.completed_at is not None
    assert final.photos == {v: f"models/{model.id}/originals/{v}" for v in VIEWS}
    assert final.cutouts["back"] == f"models/{model.id}/cutouts/back.png"
    assert final.photo_warnings == {"left": [{"code": "cutout_corrected", "message": "part removed"}]}
    assert final.assets == {
        "glb": f"models/{model.id}/assets/model.glb",
        "mtl": f"models/{model.id}/assets/model.mtl",
        "usdz": f"models/{model.id}/assets/model.usdz",
    }
    assert (final.vertex_count, final.face_count, final.provider) == (8, 12, "local")
    assert final.options == GenerationOptions(height_m=0.3, target_faces=5000)
    assert final.dimensions_m == Dimensions(x=0.2, y=0.3, z=0.1)
    assert [e.status for e in published] == [
        ModelStatus.UPLOADING_PHOTOS,
        ModelStatus.PHOTOS_UPLOADED,
        ModelStatus.REMOVING_BACKGROUND,
        ModelStatus.GENERATING_3D_MODEL,
        ModelStatus.COMPLETED,
    ]
    history = await pool.fetch(
        "SELECT from_status, to_status FROM model_status_history WHERE model_id=$1 ORDER BY id", model.id
    )
    assert [(r["from_status"], r["to_status"]) for r in history] == [
        (None, "draft"),
        ("draft", "uploading_photos"),
        ("uploading_photos", "photos_uploaded"),
        ("photos_uploaded", "removing_background"),
        ("removing_background", "generating_3d_model"),
        ("generating_3d_model", "completed"),
    ]
    assert [r["outcome"] for r in await log_rows(pool, model.id)] == ["applied"] * len(events)


async def test_duplicate_event_is_a_no_op(repository: ModelRepository, pool: asyncpg.Pool):
    model = await repository.create(owner="alice", name="mug", provider=None)
    event = photo(model.id, "front", ("front",))
    first = await repository.apply(event)
    after_first = await repository.get(model.id)
    second = await repository.apply(event)
    assert (first.outcome, second.outcome) == ("applied", "duplicate")
    assert await repository.get(model.id) == after_first
    assert len(await log_rows(pool, model.id)) == 1


async def test_rejected_transition_is_recorded_and_changes_nothing(
    repository: ModelRepository, pool: asyncpg.Pool
):
    model = await repository.create(owner="alice", name="mug", provider=None)
    event = ModelGenerated(
        model_id=model.id,
        producer="generation",
        provider="local",
        asset_keys={},
        vertex_count=1,
        face_count=1,
    )
    await repository.apply(event)  # draft -> completed (reorder rule), now terminal
    before = await repository.get(model.id)
    late = ModelFailed(
        model_id=model.id,
        producer="generation",
        stage=Stage.GENERATION,
        reason="x",
        error_code="e",
        retryable=False,
    )
    result = await repository.apply(late)
    assert result.outcome == "rejected" and "completed" in result.reason
    assert await repository.get(model.id) == before
    row = (await pool.fetch("SELECT * FROM event_log WHERE event_id = $1", late.event_id))[0]
    assert (row["outcome"], row["from_status"], row["to_status"], row["topic"]) == (
        "rejected",
        "completed",
        None,
        "model.failed",
    )
    assert "not allowed" in row["reason"]


async def test_event_for_a_missing_model_is_ignored_and_logged(
    repository: ModelRepository, pool: asyncpg.Pool
):
    missing = uuid.uuid4()
    event = ModelFailed(
        model_id=missing,
        producer="bgremoval",
        stage=Stage.BACKGROUND_REMOVAL,
        reason="photos are gone",
        error_code="missing_object",
        retryable=False,
    )
    result = await repository.apply(event)
    assert result.outcome == "ignored"
    assert [r["outcome"] for r in await log_rows(pool, missing)] == ["ignored"]


async def test_guarded_update_only_progress_of_the_running_stage(repository: ModelRepository):
    model = await repository.create(owner="alice", name="mug", provider=None)
    progress = StageProgressed(model_id=model.id, producer="generation", stage=Stage.GENERATION, progress=0.5)
    assert (await repository.apply(progress)).outcome == "ignored"
    assert (await repository.get(model.id)).progress == 0.0


async def test_concurrent_events_for_one_model_are_serialised(
    repository: ModelRepository, pool: asyncpg.Pool
):
    """Four uploads (each naming only its own view) and twenty progress reports race, every one delivered
    twice at once. Without the row lock, concurrent read-modify-writes would lose photo keys and record the
    draft -> uploading_photos change more than once."""
    model = await repository.create(owner="alice", name="mug", provider=None)
    uploads = [photo(model.id, v, (v,)) for v in VIEWS]
    noise = [
        StageProgressed(model_id=model.id, producer="upload", stage=Stage.UPLOAD, progress=i / 20)
        for i in range(20)
    ]
    everything = [*uploads, *noise] * 2
    results = await asyncio.gather(*(repository.apply(e) for e in everything))
    assert sorted(r.outcome for r in results).count("duplicate") == len(everything) // 2
    final = await repository.get(model.id)
    assert final.photos == {v: f"models/{model.id}/originals/{v}" for v in VIEWS}
    assert final.status == ModelStatus.UPLOADING_PHOTOS and final.progress == 1.0
    history = await pool.fetch("SELECT to_status FROM model_status_history WHERE model_id=$1", model.id)
    assert sorted(r["to_status"] for r in history) == ["draft", "uploading_photos"]
    assert len(await log_rows(pool, model.id)) == len(uploads) + len(noise)


async def test_concurrent_stage_events_keep_the_row_consistent(repository: ModelRepository):
    model = await repository.create(owner="alice", name="mug", provider=None)
    await repository.apply(photo(model.id, "back", VIEWS))
    await repository.apply(BackgroundRemovalStarted(model_id=model.id, producer="bgremoval"))
    reports = [
        StageProgressed(
            model_id=model.id, producer="bgremoval", stage=Stage.BACKGROUND_REMOVAL, progress=i / 25
        )
        for i in range(25)
    ]
    removed = BackgroundRemoved(
        model_id=model.id,
        producer="bgremoval",
        source_fingerprint="f",
        cutout_keys={v: f"c/{v}" for v in VIEWS},
    )
    results = await asyncio.gather(*(repository.apply(e) for e in [*reports, removed]))
    assert {r.outcome for r in results} == {"applied"}
    final = await repository.get(model.id)
    assert final.status == ModelStatus.REMOVING_BACKGROUND and final.cutouts == {v: f"c/{v}" for v in VIEWS}


async def test_a_change_notifies_listeners_on_commit(
    repository: ModelRepository, repository_database_url: str
):
    model = await repository.create(owner="alice", name="mug", provider=None)
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(repository_database_url)
    try:
        await listener.add_listener(NOTIFY_CHANNEL, lambda *args: received.put_nowait(args[-1]))
        await repository.apply(photo(model.id, "front", ("front",)))
        assert await asyncio.wait_for(received.get(), 5) == str(model.id)
    finally:
        await listener.close()


async def test_outbox_survives_a_failed_publish(repository: ModelRepository):
    await drain(repository)
    model = await repository.create(owner="alice", name="mug", provider=None)

    async def broker_down(event: ModelStatusChanged) -> None:
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        await repository.flush_outbox(broker_down)
    published = await drain(repository)
    assert [e.model_id for e in published] == [model.id]
    again = await drain(repository)
    assert again == []


async def test_events_handled_out_of_order_still_complete_the_model(
    repository: ModelRepository, pool: asyncpg.Pool
):
    """Topics are consumed independently: here generation's events overtake background removal's."""
    model = await repository.create(owner="alice", name="mug", provider=None)
    await repository.apply(photo(model.id, "back", VIEWS))
    started = BackgroundRemovalStarted(model_id=model.id, producer="bgremoval")
    removed = BackgroundRemoved(
        model_id=model.id,
        producer="bgremoval",
        source_fingerprint="f",
        cutout_keys={v: f"c/{v}" for v in VIEWS},
    )
    generation = GenerationStarted(model_id=model.id, producer="generation", provider="local")
    generated = ModelGenerated(
        model_id=model.id,
        producer="generation",
        provider="local",
        asset_keys={"glb": "g"},
        vertex_count=1,
        face_count=1,
    )
    outcomes = [(await repository.apply(e)).outcome for e in (generated, started, generation, removed)]
    assert outcomes == ["applied", "ignored", "ignored", "applied"]
    final = await repository.get(model.id)
    assert final.status == ModelStatus.COMPLETED and final.cutouts == {v: f"c/{v}" for v in VIEWS}
    assert final.assets == {"glb": "g"} and final.progress == 1.0


async def test_a_start_from_before_a_failure_does_not_clear_it(repository: ModelRepository):
    """background.removal_started and model.failed of one run, handled in the wrong order."""
    model = await repository.create(owner="alice", name="mug", provider=None)
    await repository.apply(photo(model.id, "back", VIEWS))
    started = BackgroundRemovalStarted(model_id=model.id, producer="bgremoval")
    failed = ModelFailed(
        model_id=model.id,
        producer="bgremoval",
        stage=Stage.BACKGROUND_REMOVAL,
        reason="the photos could not be read",
        error_code="unreadable",
        retryable=True,
    )
    assert (await repository.apply(failed)).outcome == "applied"
    late_start = await repository.apply(started)
    assert late_start.outcome == "ignored" and "before the failure" in late_start.reason
    final = await repository.get(model.id)
    assert final.status == ModelStatus.FAILED and final.error_message == "the photos could not be read"
    assert final.status_changed_at == failed.occurred_at
    rerun = await repository.apply(BackgroundRemovalStarted(model_id=model.id, producer="bgremoval"))
    assert rerun.outcome == "applied" and (await repository.get(model.id)).error_message is None


async def test_concurrent_flushers_publish_in_commit_order(make_database):
    """A database of its own: no running app's outbox sweep takes part."""
    url = make_database("outbox_order")
    await migrate(url)
    own_pool = await asyncpg.create_pool(url, min_size=1, max_size=8)
    try:
        repository = ModelRepository(own_pool)
        models = [await repository.create(owner="alice", name=f"m{i}", provider=None) for i in range(30)]
        published = Published()

        async def slow_publish(event: ModelStatusChanged) -> None:
            await asyncio.sleep(0.001)
            published.append(event)

        await asyncio.gather(*(repository.flush_outbox(slow_publish, batch=4) for _ in range(5)))
        assert [e.model_id for e in published] == [m.id for m in models]
    finally:
        await own_pool.close()


async def test_an_event_costs_one_transaction_of_few_statements(repository_database_url: str):
    """Issue 13: applying an event is BEGIN, the row lock, the event's log entry written once with its
    outcome, the model's update with its NOTIFY, COMMIT; a redelivery stops at the log entry; a flush is
    the lock, one statement that takes the queued changes out, COMMIT. The pool gives a connection back
    without a reset query (nothing of a session outlives a transaction here)."""
    from photo3d_status.repository import keep_session

    sent: list[str] = []

    async def logged(connection: asyncpg.Connection) -> None:
        connection.add_query_logger(lambda record: sent.append(" ".join(record.query.split())[:30]))

    own = await asyncpg.create_pool(
        repository_database_url, min_size=1, max_size=1, init=logged, reset=keep_session
    )
    try:
        repository = ModelRepository(own)
        model = await repository.create(owner="counted", name="m", provider=None)
        await drain(repository)
        event = photo(model.id, "front", ("front",))

        sent.clear()
        assert (await repository.apply(event)).outcome == "applied"
        applied = list(sent)
        sent.clear()
        assert (await repository.apply(event)).outcome == "duplicate"
        duplicate = list(sent)
        sent.clear()
        assert len(await drain(repository)) == 1
        flushed = list(sent)
    finally:
        await own.close()

    verbs = [" ".join(query.split()[:2]) for query in applied]
    assert verbs == [
        "BEGIN;",
        "SELECT *",  # FOR UPDATE
        "INSERT INTO",  # event_log, with the outcome
        "UPDATE models",
        "SELECT pg_notify($1,",
        "INSERT INTO",  # history
        "INSERT INTO",  # outbox
        "COMMIT;",
    ], applied
    assert [" ".join(query.split()[:2]) for query in duplicate] == [
        "BEGIN;",
        "SELECT *",
        "INSERT INTO",
        "COMMIT;",
    ]
    assert [query.split()[0] for query in flushed] == ["BEGIN;", "SELECT", "DELETE", "COMMIT;"], flushed
