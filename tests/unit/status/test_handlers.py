"""``apply_event`` publishes through the outbox only when something can be queued there."""

from __future__ import annotations

import uuid

import pytest

from photo3d_common.events import Event, ModelStatus, Stage, StageProgressed
from photo3d_status.handlers import apply_event
from photo3d_status.repository import ApplyResult

S = ModelStatus


class ScriptedStore:
    """Answers ``apply`` with the given result and counts the outbox flushes."""

    def __init__(self, result: ApplyResult) -> None:
        self.result = result
        self.flushes = 0

    async def apply(self, event: Event) -> ApplyResult:
        return self.result

    async def flush_outbox(self, publish) -> int:
        self.flushes += 1
        return 0


async def nowhere(event: Event) -> None:
    raise AssertionError("nothing is published directly")


def progress() -> StageProgressed:
    return StageProgressed(model_id=uuid.uuid4(), producer="generation", stage=Stage.GENERATION, progress=0.5)


@pytest.mark.parametrize(
    ("result", "flushes"),
    [
        (ApplyResult("applied", "", S.REMOVING_BACKGROUND, S.GENERATING_3D_MODEL), 1),  # its own change
        (ApplyResult("duplicate", "event already handled"), 1),  # a crash may have left its change queued
        (ApplyResult("applied", "", S.GENERATING_3D_MODEL, S.GENERATING_3D_MODEL), 0),  # progress only
        (ApplyResult("ignored", "progress of a stage that is not running", S.COMPLETED), 0),
        (ApplyResult("rejected", "not allowed", S.DRAFT), 0),
    ],
)
async def test_the_outbox_is_flushed_only_when_the_event_can_have_queued_a_change(result, flushes) -> None:
    store = ScriptedStore(result)
    assert await apply_event(progress(), repository=store, publish=nowhere) == result
    assert store.flushes == flushes
