"""What the status service does with each event: plain async functions of the event and named
dependencies, so tests call them directly and the Kafka subscribers stay two lines long."""

from __future__ import annotations

from photo3d_common.events import Event
from photo3d_common.logging import bound_model, get_logger
from photo3d_common.ports import Publisher
from photo3d_status.ports import EventStore
from photo3d_status.repository import ApplyResult

log = get_logger(__name__)


async def apply_event(event: Event, *, repository: EventStore, publish: Publisher) -> ApplyResult:
    """Apply one event; then publish the status change it caused (queued in the outbox by the same
    transaction). A redelivered event is a no-op but still flushes what a crash may have left queued. An
    event that changed no status publishes nothing, and costs no outbox transaction.

    A database outage propagates: the consumer waits it out and delivers the event again, as in every
    service (``photo3d_common.broker``), instead of parking it."""
    with bound_model(event.model_id):
        result = await repository.apply(event)
        fields = {
            "event_type": type(event).__name__,
            "event_id": str(event.event_id),
            "outcome": result.outcome,
            "from_status": result.from_status,
            "to_status": result.to_status,
        }
        if result.outcome == "rejected":
            log.warning("transition rejected", reason=result.reason, **fields)
        elif result.outcome == "applied":
            log.info("event applied", note=result.reason or None, **fields)
        else:
            log.info("event not applied", reason=result.reason, **fields)
        if result.status_changed or result.outcome == "duplicate":
            # Only then can something be waiting: this event's change, or one a crash left queued before
            # the redelivery. Most events change no status (progress, photos before the last); what an
            # outage left queued meanwhile is the sweeper's.
            try:
                await repository.flush_outbox(publish)
            except Exception as error:  # noqa: BLE001 - the change is committed; the outbox sweep retries it
                log.warning("status change not published yet", error=f"{type(error).__name__}: {error}")
        return result


# One name per topic, so the consumers read like the contract's table.
on_photos_uploaded = apply_event
on_background_removal_started = apply_event
on_stage_progressed = apply_event
on_background_removed = apply_event
on_generation_started = apply_event
on_model_generated = apply_event
on_model_failed = apply_event
