"""What the background-removal handlers need from the model (``remover.BackgroundRemover`` in the service,
an in-memory fake in unit tests)."""

from __future__ import annotations

from typing import Protocol

from .remover import CutoutResult


class Remover(Protocol):
    @property
    def model_name(self) -> str: ...

    async def process_async(self, data: bytes, *, view: str | None = None) -> CutoutResult: ...
