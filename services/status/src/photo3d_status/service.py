"""The HTTP use cases (create, list, read, delete, download, watch), so controllers stay two lines long."""

from __future__ import annotations

import asyncio
import mimetypes
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from photo3d_common.concurrency import answer_within
from photo3d_common.errors import Conflict, CreationDisabled, DatabaseUnavailable, InvalidInput, NotFound
from photo3d_common.events import GenerationOptions, GenerationOptionsChange
from photo3d_common.logging import bound_model, get_logger
from photo3d_common.ports import Publisher
from photo3d_common.storage import ObjectInfo, ObjectNotFound, ObjectStorage, model_prefix
from photo3d_status.creation_switch import DEFAULT_NOTICE, CreationSwitch
from photo3d_status.domain import ModelState
from photo3d_status.live import Closed, ModelChangeHub
from photo3d_status.repository import ModelBusy, ModelNotFound, ModelRepository

log = get_logger(__name__)
T = TypeVar("T")

_EXTRA_TYPES = {
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".obj": "model/obj",
    ".mtl": "model/mtl",
    ".stl": "model/stl",
    ".usdz": "model/vnd.usdz+zip",
    ".png": "image/png",
    ".json": "application/json",
}
_GENERIC_TYPES = {None, "", "binary/octet-stream", "application/octet-stream"}


def content_type_for(key: str, stored: str | None) -> str:
    """The stored content type when it says something; otherwise guessed from the file name."""
    if stored and stored not in _GENERIC_TYPES:
        return stored
    suffix = "." + key.rsplit(".", 1)[-1].lower() if "." in key.rsplit("/", 1)[-1] else ""
    return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


#: Longest file path below a model accepted (S3 keys end at 1024 bytes; ours are far shorter).
MAX_FILE_PATH = 512
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def safe_relative_key(path: str) -> str:
    """A path below a model's folder, or InvalidInput: no absolute paths, no '..', no empty parts, no NUL
    or other control characters (S3 rejects them), at most MAX_FILE_PATH characters."""
    parts = path.split("/")
    if (
        not path
        or len(path) > MAX_FILE_PATH
        or path.startswith("/")
        or "\\" in path
        or _CONTROL_CHARACTERS.search(path)
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise InvalidInput(
            "the file path must be relative to the model, like 'assets/model.glb' (no control characters, "
            f"at most {MAX_FILE_PATH} characters)",
            code="invalid_file_path",
        )
    return path


async def _logged(chunks: AsyncIterator[bytes], key: str) -> AsyncIterator[bytes]:
    """Once the headers are out, a failing read can only cut the response short: say why in the log."""
    sent = 0
    try:
        async for chunk in chunks:
            sent += len(chunk)
            yield chunk
    except Exception:
        log.exception("download broke off", key=key, bytes_sent=sent)
        raise


@dataclass(frozen=True)
class FileDownload:
    info: ObjectInfo
    filename: str
    content_type: str
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class StatusUpdate:
    """One item of a model's live stream: the model, or None with ``deleted`` when it is gone."""

    model: ModelState | None
    keepalive: bool = False
    deleted: bool = False


class ModelService:
    def __init__(
        self,
        *,
        repository: ModelRepository,
        storage: ObjectStorage,
        hub: ModelChangeHub,
        publish: Publisher,
        providers: list[str],
        keepalive_s: float,
        creation_switch: Callable[[], Awaitable[CreationSwitch]] | None = None,
        default_options: GenerationOptions | None = None,
        db_request_timeout_s: float = 2.0,
    ) -> None:
        self.repository = repository
        self.db_request_timeout_s = db_request_timeout_s
        self.creation_switch = creation_switch
        self.storage = storage
        self.hub = hub
        self.publish = publish
        self.providers = providers
        self.keepalive_s = keepalive_s
        self.default_options = default_options or GenerationOptions()
        self._flushes: set[asyncio.Task[None]] = set()

    async def create(
        self,
        owner: str,
        *,
        name: str | None,
        provider: str | None,
        options: GenerationOptionsChange | None = None,
    ) -> ModelState:
        if self.creation_switch is not None:
            switch = await self._database(self.creation_switch())
            if not switch.enabled:
                raise CreationDisabled(switch.notice or DEFAULT_NOTICE)
        if provider is not None and provider not in self.providers:
            raise InvalidInput(
                f"unknown provider {provider!r}: choose one of {', '.join(self.providers)}",
                detail={"providers": self.providers},
            )
        name = (name or "").strip() or "Untitled model"
        chosen = self.default_options.overridden(options) if options else self.default_options
        model = await self._database(
            self.repository.create(owner=owner, name=name, provider=provider, options=chosen)
        )
        with bound_model(model.id):
            log.info("model created", owner=owner, provider=provider, options=chosen.model_dump())
            self._flush_soon()
        return model

    async def list(self, owner: str, *, limit: int, offset: int) -> tuple[list[ModelState], int]:
        return await self._database(self.repository.list_for_owner(owner, limit=limit, offset=offset))

    async def get(self, owner: str, model_id: uuid.UUID) -> ModelState:
        model = await self._database(self.repository.get(model_id, owner=owner))
        if model is None:
            raise NotFound(f"no model {model_id}")
        return model

    async def _database(self, call: Awaitable[T]) -> T:
        """A request's statement answers within ``db_request_timeout_s`` or the request gets 503 (a hung
        database otherwise holds it for the pool's command timeout, and again for the clean-up)."""
        return await answer_within(
            self.db_request_timeout_s,
            call,
            gone=lambda: DatabaseUnavailable(
                message=f"the database did not answer within {self.db_request_timeout_s:g} s; "
                "try again in a moment"
            ),
        )

    async def delete(self, owner: str, model_id: uuid.UUID, *, force: bool = False) -> None:
        """Deletes the model and everything stored under ``models/{id}/``. While a worker is processing it
        the answer is 409 (the worker would keep writing objects for a model that no longer exists);
        ``force`` deletes anyway, e.g. a model whose worker died: the worker's later model.failed or
        model.generated is then ignored as an event for a missing model."""

        async def remove_objects(model: ModelState) -> None:
            removed = await self.storage.delete_prefix(model_prefix(model.id))
            log.info("stored objects deleted", objects=removed)

        with bound_model(model_id):
            try:
                await self.repository.delete(model_id, owner=owner, force=force, before_delete=remove_objects)
            except ModelNotFound:
                raise NotFound(f"no model {model_id}") from None
            except ModelBusy as busy:
                raise Conflict(
                    f"the model is {busy.status}: wait until it completes or fails, or delete it with ?force=true",
                    code="model_busy",
                    detail={"status": str(busy.status)},
                ) from None
            log.info("model deleted", forced=force)

    async def open_file(self, owner: str, model_id: uuid.UUID, path: str) -> FileDownload:
        relative = safe_relative_key(path)
        await self.get(owner, model_id)
        key = model_prefix(model_id) + relative
        try:
            info, chunks = await self.storage.stream(key)
        except ObjectNotFound:
            raise NotFound(f"the model has no file {relative!r}") from None
        return FileDownload(
            info=info,
            filename=relative.rsplit("/", 1)[-1],
            content_type=content_type_for(key, info.content_type),
            chunks=_logged(chunks, key),
        )

    async def watch(self, owner: str, model_id: uuid.UUID) -> AsyncIterator[StatusUpdate]:
        """The model now, then again on every change; keep-alives while idle; ends at deletion or shutdown.
        Checks access before the stream starts, so a stranger gets a plain 404."""
        await self.get(owner, model_id)
        return self._watch(owner, model_id)

    async def _watch(self, owner: str, model_id: uuid.UUID) -> AsyncIterator[StatusUpdate]:
        async with self.hub.subscribe(model_id) as subscription:
            last = await self.repository.get(model_id, owner=owner)  # read after subscribing: nothing missed
            if last is None:
                yield StatusUpdate(None, deleted=True)
                return
            yield StatusUpdate(last)
            while True:
                try:
                    changed = await subscription.wait(self.keepalive_s)
                except Closed:
                    return
                if not changed:
                    yield StatusUpdate(last, keepalive=True)
                    continue
                current = await self.repository.get(model_id, owner=owner)
                if current is None:
                    yield StatusUpdate(None, deleted=True)
                    return
                if current != last:
                    last = current
                    yield StatusUpdate(current)

    def _flush_soon(self) -> None:
        """Publish the queued status change now, without the request waiting for the broker: a broker
        outage must not hold up the answer (the outbox sweep publishes what this misses)."""
        task = asyncio.create_task(self._flush(), name="outbox-flush")
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        try:
            await self.repository.flush_outbox(self.publish)
        except Exception as error:  # noqa: BLE001 - the sweep retries; the HTTP call succeeded
            log.warning("status change not published yet", error=str(error))
