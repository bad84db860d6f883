"""The stuck-model watchdog: a background job of the status service, beside the consumers and the API.

A model waiting for a worker (``photos_uploaded``, ``removing_background``, ``generating_3d_model``) with no
event for longer than that status's deadline (``STATUS_DEADLINE_*_S``) is failed with
``error_code=stage_timeout`` and a retryable reason, so the page offers the retry button and a re-run
starts from there. Whatever left it stuck (a worker killed mid-stage, a trigger lost in an outage), the
model ends in a true status within its deadline.

The failure is an ordinary ``ModelFailed`` applied through the repository (event log, history, outbox):
its event id is derived from the model and the moment its status began, so several status instances
sweeping at once fail a model once, and the check runs again under the row lock, so a model that moved
on meanwhile is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Mapping

from photo3d_common.concurrency import in_background
from photo3d_common.events import ModelFailed, ModelStatus, Stage
from photo3d_common.logging import FailureBurst, bound_model, get_logger
from photo3d_common.ports import Publisher
from photo3d_status.domain import ModelState
from photo3d_status.repository import ModelRepository

log = get_logger(__name__)
PRODUCER = "status"
_TIMEOUT_NAMESPACE = uuid.UUID("0f1d2f3e-8d1c-4a8e-9d55-73746167653e")

#: status -> (the stage that owes the model an event, what did not happen in time)
WAITING_FOR: dict[ModelStatus, tuple[Stage, str]] = {
    ModelStatus.PHOTOS_UPLOADED: (Stage.BACKGROUND_REMOVAL, "background removal did not start"),
    ModelStatus.REMOVING_BACKGROUND: (Stage.BACKGROUND_REMOVAL, "background removal did not finish"),
    ModelStatus.GENERATING_3D_MODEL: (Stage.GENERATION, "3D generation did not finish"),
}


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:g} s"


def stage_timeout(model: ModelState, deadline_s: float) -> ModelFailed:
    stage, what = WAITING_FOR[model.status]
    since = model.status_changed_at.isoformat() if model.status_changed_at else ""
    return ModelFailed(
        event_id=uuid.uuid5(_TIMEOUT_NAMESPACE, f"{model.id}:{model.status}:{since}"),
        model_id=model.id,
        producer=PRODUCER,
        stage=stage,
        reason=f"{what} within {_duration(deadline_s)}; retry",
        error_code="stage_timeout",
        retryable=True,
        detail=f"no event for {deadline_s:.0f} s while {model.status}",
    )


class StageWatchdog:
    def __init__(
        self,
        repository: ModelRepository,
        publish: Publisher,
        *,
        deadlines_s: Mapping[ModelStatus, float],
        interval_s: float,
    ) -> None:
        self.repository = repository
        self.publish = publish
        self.deadlines_s = {status: s for status, s in deadlines_s.items() if status in WAITING_FOR}
        self.interval_s = interval_s
        self._burst = FailureBurst(log, "stuck-model watchdog cannot reach the database")

    async def sweep(self) -> int:
        """One round: fail every model stuck past its deadline; returns how many were failed."""
        failed = 0
        for status, deadline_s in self.deadlines_s.items():
            for model_id in await self.repository.stuck(status, deadline_s):
                result = await self.repository.fail_if_stuck(
                    model_id, status, deadline_s, functools.partial(stage_timeout, deadline_s=deadline_s)
                )
                if result is not None and result.outcome == "applied":
                    failed += 1
                    with bound_model(model_id):
                        log.warning("model stuck: failed", status=str(status), deadline_s=deadline_s)
        if failed:
            await self.repository.flush_outbox(self.publish)
        return failed

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
                self._burst.recovered()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the next round tries again
                self._burst.failed(error)
            await asyncio.sleep(self.interval_s)

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Sweeps in the background while the block runs; stopped (cancelled, awaited) when it ends."""
        return in_background(self.run, name="stage-watchdog")
