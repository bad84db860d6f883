"""The stuck-model watchdog on a real Postgres: a model without news past its stage's deadline fails with
stage_timeout and a retryable reason; a model that moved on, or one still hearing from its worker, does not;
a re-run works from the failure."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from photo3d_common.events import (
    BackgroundRemovalStarted,
    ModelStatus,
    ModelStatusChanged,
    PhotoUploaded,
    Stage,
    StageProgressed,
)
from photo3d_status.handlers import apply_event
from photo3d_status.migrate import migrate
from photo3d_status.repository import ModelRepository
from photo3d_status.watchdog import StageWatchdog

VIEWS = ("front", "left", "right", "back")
DEADLINE_S = 1.0


@pytest.fixture(scope="module")
async def pool(make_database):
    url = make_database("watchdog")
    await migrate(url)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=5)
    yield pool
    await pool.close()


class Published(list):
    async def __call__(self, event: ModelStatusChanged) -> None:
        self.append(event)


async def removing_background(repository: ModelRepository, published: Published) -> uuid.UUID:
    model = await repository.create(owner="alice", name="mug", provider=None)
    keys = {v: f"models/{model.id}/originals/{v}" for v in VIEWS}
    await apply_event(
        PhotoUploaded(
            model_id=model.id,
            producer="upload",
            view="back",
            object_key=keys["back"],
            content_type="image/jpeg",
            width=10,
            height=10,
            size_bytes=1,
            sha256="0" * 64,
            original_keys=keys,
            all_views_uploaded=True,
            start_processing=True,
        ),
        repository=repository,
        publish=published,
    )
    await apply_event(
        BackgroundRemovalStarted(model_id=model.id, producer="bgremoval"),
        repository=repository,
        publish=published,
    )
    return model.id


def watchdog(repository: ModelRepository, published: Published) -> StageWatchdog:
    deadlines = dict.fromkeys((ModelStatus.PHOTOS_UPLOADED, ModelStatus.REMOVING_BACKGROUND), DEADLINE_S)
    return StageWatchdog(repository, published, deadlines_s=deadlines, interval_s=0.2)


async def test_a_model_without_news_past_its_deadline_fails_retryably_and_a_rerun_works(pool):
    repository, published = ModelRepository(pool), Published()
    stuck = await removing_background(repository, published)
    alive = await removing_background(repository, published)
    dog = watchdog(repository, published)
    assert await dog.sweep() == 0  # not yet past the deadline

    for _ in range(6):  # the live model's worker keeps reporting progress; the stuck one is silent
        await asyncio.sleep(DEADLINE_S / 4)
        await apply_event(
            StageProgressed(
                model_id=alive, producer="bgremoval", stage=Stage.BACKGROUND_REMOVAL, progress=0.5
            ),
            repository=repository,
            publish=published,
        )
    async with dog.running():
        for _ in range(50):
            if (await repository.get(stuck)).status == ModelStatus.FAILED:
                break
            await asyncio.sleep(0.1)

    failed = await repository.get(stuck)
    assert failed.status == ModelStatus.FAILED and failed.error_code == "stage_timeout"
    assert failed.error_retryable and failed.error_stage == "background_removal"
    assert failed.error_message == "background removal did not finish within 1 s; retry"
    assert (await repository.get(alive)).status == ModelStatus.REMOVING_BACKGROUND
    assert [c.status for c in published if c.model_id == stuck][-1] == ModelStatus.FAILED
    assert await dog.sweep() == 0  # failed once

    rerun = await apply_event(
        BackgroundRemovalStarted(model_id=stuck, producer="bgremoval"),
        repository=repository,
        publish=published,
    )
    assert rerun.outcome == "applied" and rerun.to_status == ModelStatus.REMOVING_BACKGROUND
    assert (await repository.get(stuck)).error_code is None


async def test_two_watchdogs_fail_a_model_once(pool):
    repository, published = ModelRepository(pool), Published()
    stuck = await removing_background(repository, published)
    await asyncio.sleep(DEADLINE_S + 0.2)
    await asyncio.gather(watchdog(repository, published).sweep(), watchdog(repository, published).sweep())
    applied = await pool.fetch(
        "SELECT outcome FROM event_log WHERE model_id = $1 AND event_type = 'ModelFailed'", stuck
    )
    assert [row["outcome"] for row in applied] == ["applied"]  # the same event id: the second is a no-op
    rows = await pool.fetch(
        "SELECT to_status FROM model_status_history WHERE model_id = $1 AND to_status = 'failed'", stuck
    )
    assert len(rows) == 1
