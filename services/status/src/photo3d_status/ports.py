"""What the status handlers need from the database (``repository.ModelRepository`` in the service, an
in-memory store in unit tests). The publisher is ``photo3d_common.ports.Publisher``."""

from __future__ import annotations

from typing import Protocol

from photo3d_common.events import Event
from photo3d_common.ports import Publisher
from photo3d_status.repository import ApplyResult


class EventStore(Protocol):
    async def apply(self, event: Event) -> ApplyResult:
        """Apply one event in one transaction, queueing the status change it causes in the outbox."""
        ...

    async def flush_outbox(self, publish: Publisher) -> int:
        """Publish the queued status changes in order; how many went out."""
        ...
