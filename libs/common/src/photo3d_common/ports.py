"""The small interfaces handlers are typed on, so a unit test passes an in-memory fake and the composition
root (each service's ``bootstrap.py``) passes the real adapter. Only what more than one service uses lives
here; a service's own ports (the remover, the generation providers, the status repository) live with it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Protocol

from photo3d_common.events import Event
from photo3d_common.storage import ObjectInfo


class Publisher(Protocol):
    """Publishes one event to its topic, keyed by model id (``photo3d_common.broker.EventPublisher``)."""

    async def __call__(self, event: Event, /) -> None: ...


class Storage(Protocol):
    """Objects by key (``photo3d_common.storage.ObjectStorage`` over S3/R2). A missing object raises
    ``ObjectNotFound`` from ``get_bytes`` and ``get_object``, and is ``None`` from ``head``."""

    async def get_bytes(self, key: str) -> bytes: ...

    async def get_object(self, key: str) -> tuple[ObjectInfo, bytes]:
        """The object's info (as ``head`` gives it) and its bytes, in one request."""
        ...

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str, metadata: dict[str, str] | None = None
    ) -> None: ...

    async def upload_stream(
        self, key: str, fileobj: IO[bytes], *, content_type: str, metadata: dict[str, str] | None = None
    ) -> None: ...

    async def head(self, key: str) -> ObjectInfo | None: ...

    async def list_keys(self, prefix: str) -> list[str]: ...

    async def delete_keys(self, keys: Iterable[str]) -> int: ...

    async def ping(self) -> None:
        """Raise when the store cannot be reached (readiness probes)."""
        ...
