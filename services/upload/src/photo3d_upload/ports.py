"""What the upload handlers need from the status service (``status_client.StatusClient`` in the service,
an in-memory fake in unit tests). Storage and the publisher are ``photo3d_common.ports``."""

from __future__ import annotations

import uuid
from typing import Protocol

from photo3d_upload.rules import ModelSnapshot


class ModelLookup(Protocol):
    """The caller's model, as the status service (its only owner) sees it; ``NotFound`` for a missing
    model and for another user's."""

    async def get_model(self, model_id: uuid.UUID, token: str) -> ModelSnapshot: ...

    async def ping(self) -> None:
        """Raise when the status service cannot be reached (readiness)."""
        ...
