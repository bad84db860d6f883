"""What the background-removal handlers need from the model (``remover.BackgroundRemover`` in the service,
an in-memory fake in unit tests)."""

from __future__ import annotations

from typing import Protocol

from .remover import BackgroundRemovalSettings, CutoutResult


class Remover(Protocol):
    @property
    def model_name(self) -> str: ...

    @property
    def settings(self) -> BackgroundRemovalSettings:
        """The cut-out geometry (margin, squareness, size, PNG level) the cross-view check keeps."""
        ...

    async def remove(self, photo: bytes, *, view: str | None = None) -> CutoutResult:
        """The cut-out of one photo (encoded bytes), computed off the event loop."""
        ...
