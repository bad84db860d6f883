"""Workers answer each trigger once: a redelivered or replayed trigger gets its earlier answer again.

A worker's answer to a trigger (``photos.uploaded``, ``background.removal_requested``, ``background.removed``,
``generation.requested``) is one event that ends its stage: ``background.removed``, ``model.generated`` or
``model.failed``. It is stored at ``models/{model_id}/handled/{service}/{trigger event_id}.json`` before
it is published, so whatever happens to the trigger later (a redelivery after a crash, a replay from the
log), the worker republishes that same event, same event id, and does nothing else: no stage started
again, no asset rewritten. Consumers drop the copy by its event id. A user's re-run is a new trigger with
a new event id, so it runs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from photo3d_common.events import EVENT_BY_TOPIC, BackgroundRemoved, Event, ModelFailed, ModelGenerated
from photo3d_common.logging import bound_model, get_logger
from photo3d_common.ports import Publisher, Storage
from photo3d_common.storage import ObjectNotFound

log = get_logger(__name__)

#: Events that answer a trigger (end a stage).
ANSWERS: tuple[type[Event], ...] = (BackgroundRemoved, ModelGenerated, ModelFailed)


def answer_key(trigger: Event, service: str) -> str:
    return f"models/{trigger.model_id}/handled/{service}/{trigger.event_id}.json"


async def answer_once(
    trigger: Event,
    *,
    service: str,
    storage: Storage,
    publish: Publisher,
    handle: Callable[[Publisher], Awaitable[None]],
) -> None:
    """Run ``handle(publish)`` for a trigger seen for the first time; for one answered before, publish
    the earlier answer again instead. The answer is stored before it is published. Every event of the
    run carries the trigger's time (``run_triggered_at``): the status service ignores a run older than
    the model's latest failure or re-run."""
    key = answer_key(trigger, service)
    with bound_model(trigger.model_id):
        try:
            stored = json.loads(await storage.get_bytes(key))
        except ObjectNotFound:
            stored = None
        if stored is not None:
            earlier = EVENT_BY_TOPIC[stored["topic"]].model_validate(stored["event"])
            log.info(
                "trigger answered before: republishing its answer",
                trigger=trigger.topic,
                trigger_event_id=str(trigger.event_id),
                answer=earlier.topic,
                answer_event_id=str(earlier.event_id),
            )
            await publish(earlier)
            return

        async def remembering(event: Event) -> None:
            event = event.model_copy(update={"run_triggered_at": trigger.occurred_at})
            if isinstance(event, ANSWERS):
                record = {
                    "topic": event.topic,
                    "event": event.model_dump(mode="json"),
                    "trigger": trigger.topic,
                }
                await storage.put_bytes(key, json.dumps(record).encode(), content_type="application/json")
            await publish(event)

        await handle(remembering)
