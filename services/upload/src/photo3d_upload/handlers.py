"""What the upload API does, as plain async functions of the request and named dependencies.

They check, store and publish; they never do a stage's work (the workers do, when the events arrive).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Literal
from urllib.parse import quote

from photo3d_common.concurrency import CapacityLimiter, run_blocking
from photo3d_common.errors import BrokerUnavailable, InvalidInput, Photo3DError
from photo3d_common.events import (
    VIEWS,
    BackgroundRemovalRequested,
    Event,
    GenerationOptions,
    GenerationOptionsChange,
    GenerationRequested,
    PhotoUploaded,
    View,
)
from photo3d_common.logging import bound_model, get_logger
from photo3d_common.ports import Publisher, Storage
from photo3d_common.storage import cutout_key, original_key
from photo3d_upload.ports import ModelLookup
from photo3d_upload.rules import (
    ModelSnapshot,
    ensure_background_removal_allowed,
    ensure_generation_allowed,
    ensure_photo_accepted,
    missing_views,
    registered,
    starts_processing,
)
from photo3d_upload.settings import PhotoLimits
from photo3d_upload.validation import CheckedPhoto, check_photo

log = get_logger(__name__)

PRODUCER = "upload"


@dataclass(frozen=True)
class Caller:
    """Who is asking (the token's ``sub``) and their bearer token, forwarded to the status service."""

    subject: str
    token: str


@dataclass(frozen=True)
class PhotoStored:
    model_id: uuid.UUID
    view: View
    key: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    views_stored: list[View]
    all_views_uploaded: bool

    @classmethod
    def announced_by(cls, event: PhotoUploaded) -> PhotoStored:
        """The request's answer: the photo the event announced, and the views stored with it."""
        return cls(
            model_id=event.model_id,
            view=event.view,
            key=event.object_key,
            content_type=event.content_type,
            width=event.width,
            height=event.height,
            size_bytes=event.size_bytes,
            sha256=event.sha256,
            views_stored=list(event.original_keys),
            all_views_uploaded=event.all_views_uploaded,
        )


#: the stages a user can ask to run again
RequestedStage = Literal["background_removal", "generation"]


@dataclass(frozen=True)
class StageRequested:
    model_id: uuid.UUID
    requested: RequestedStage


@dataclass
class ModelLocks:
    """One lock per model id while its photo set changes, so exactly one upload sees the set go from
    incomplete to complete. Per process: with several replicas, route a model's uploads to one replica
    (or accept that a rare race starts background removal twice, which the workers tolerate)."""

    _locks: dict[uuid.UUID, asyncio.Lock] = field(default_factory=dict)
    _users: dict[uuid.UUID, int] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def hold(self, model_id: uuid.UUID) -> AsyncIterator[None]:
        lock = self._locks.setdefault(model_id, asyncio.Lock())
        self._users[model_id] = self._users.get(model_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[model_id] -= 1
            if not self._users[model_id]:
                del self._users[model_id], self._locks[model_id]


@contextlib.contextmanager
def _logged_refusal(action: str, **fields: object) -> Iterator[None]:
    """Log a refused request (4xx) with its code, so operators see why users get errors."""
    try:
        yield
    except Photo3DError as error:
        if error.status_code < 500:
            log.info(
                f"{action} refused",
                code=error.code,
                status_code=error.status_code,
                reason=error.message,
                **fields,
            )
        raise


def parse_model_id(raw: str | uuid.UUID) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw).strip())
    except ValueError:
        raise InvalidInput(
            f"model_id {str(raw)[:80]!r} is not a model id (a UUID such as 3f2b...): create a model first",
            code="invalid_model_id",
        ) from None


def parse_view(raw: str) -> View:
    view = str(raw).strip().lower()
    if view not in VIEWS:
        raise InvalidInput(
            f"unknown view {str(raw)[:40]!r}: use one of {', '.join(VIEWS)}",
            code="invalid_view",
            detail={"view": str(raw)[:40], "allowed": list(VIEWS)},
        )
    return view


def _by_view(keys: Iterable[str], key_of: Callable[[str], str]) -> dict[View, str]:
    present = set(keys)
    return {view: key for view in VIEWS if (key := key_of(view)) in present}


async def stored_originals(storage: Storage, model_id: uuid.UUID) -> dict[View, str]:
    """The views whose originals are stored: S3, not the status service, is the truth of this."""
    keys = await storage.list_keys(original_key(model_id, ""))
    return _by_view(keys, lambda view: original_key(model_id, view))


async def stored_cutouts(storage: Storage, model_id: uuid.UUID) -> dict[View, str]:
    keys = await storage.list_keys(cutout_key(model_id, "").removesuffix(".png"))
    return _by_view(keys, lambda view: cutout_key(model_id, view))


def _ascii(value: str) -> str:
    """S3 metadata must be ASCII: percent-encode anything else."""
    return quote(value, safe=" !#$&'()*+,-./:;=?@[]^_`{|}~")[:1024]


async def upload_photo(
    *,
    model_id: str,
    view: str,
    file: IO[bytes],
    filename: str | None,
    caller: Caller,
    status: ModelLookup,
    storage: Storage,
    publish: Publisher,
    limits: PhotoLimits,
    locks: ModelLocks,
    decoding: CapacityLimiter,
) -> PhotoStored:
    """Check the photo, store it at ``models/{id}/originals/{view}`` and publish PhotoUploaded.

    ``file`` is the spooled upload (on disk past 1 MB): nothing reaches the real key before every check
    passed, and S3 makes the put atomic, so a rejected or interrupted upload leaves nothing behind.
    """
    with (
        contextlib.closing(file),
        _logged_refusal("upload", model_id=str(model_id)[:80], view=str(view)[:40]),
    ):
        model_uuid = parse_model_id(model_id)
        chosen_view = parse_view(view)
        with bound_model(model_uuid):
            model = await status.get_model(model_uuid, caller.token)
            ensure_photo_accepted(model)
            photo: CheckedPhoto = await run_blocking(check_photo, file, limits, limiter=decoding)
            try:
                return await _store_and_announce(
                    photo,
                    model_uuid,
                    chosen_view,
                    filename,
                    caller,
                    model,
                    storage=storage,
                    publish=publish,
                    locks=locks,
                )
            finally:
                photo.close()


async def _store_and_announce(
    photo: CheckedPhoto,
    model_id: uuid.UUID,
    view: View,
    filename: str | None,
    caller: Caller,
    model: ModelSnapshot,
    *,
    storage: Storage,
    publish: Publisher,
    locks: ModelLocks,
) -> PhotoStored:
    key = original_key(model_id, view)
    metadata = {
        "sha256": photo.sha256,
        "width": str(photo.width),
        "height": str(photo.height),
        "source-format": photo.source_format,
        "uploaded-by": _ascii(caller.subject),
    }
    if filename:
        metadata["filename"] = _ascii(filename)
    if photo.transformed:
        metadata["transformed"] = _ascii(photo.transformed)

    # What the status service lists is stored (a photo is announced only after its put): the set before
    # this put needs no listing of its own.
    before = registered(model)
    async with locks.hold(model_id):
        await storage.upload_stream(key, photo.fileobj, content_type=photo.content_type, metadata=metadata)
        if view in before:
            # The replaced photo's cut-out no longer shows what is stored: remove it, so a re-run of
            # generation cannot use it (it asks for background removal first).
            await storage.delete_keys([cutout_key(model_id, view)])
        if missing_views([*before, view]):
            # S3 is the truth of what is stored now: uploads of other views, in flight beside this one (here
            # or on another replica), may have completed the set.
            after = await stored_originals(storage, model_id)
        else:
            after = {v: original_key(model_id, v) for v in VIEWS}
        all_in = not missing_views(after)
        event = PhotoUploaded(
            model_id=model_id,
            producer=PRODUCER,
            view=view,
            object_key=key,
            content_type=photo.content_type,
            width=photo.width,
            height=photo.height,
            size_bytes=photo.size_bytes,
            sha256=photo.sha256,
            original_keys=after,
            all_views_uploaded=all_in,
            start_processing=starts_processing(model, before=before, after=after),
            provider=model.provider,
            options=model.options,
        )
        # The photo stays stored when the broker fails: a publish that timed out may still be delivered,
        # and then the model lists this photo. Its retry announces the set again (see ``registered``).
        await _publish_or_unavailable(
            publish,
            event,
            "the photo is stored, but the message broker did not confirm that it was registered: "
            "upload it again in a moment",
        )

    stored = PhotoStored.announced_by(event)
    log.info(
        "photo stored",
        **{name: value for name, value in dataclasses.asdict(stored).items() if name != "model_id"},
        transformed=photo.transformed,
        start_processing=event.start_processing,
    )
    return stored


_REQUEST_NOT_SENT = "the request could not be sent (the message broker is unavailable): try again in a moment"


async def _publish_or_unavailable(publish: Publisher, event: Event, message: str) -> None:
    """Publish ``event``; when the broker fails or does not answer in time, the request answers 503
    ``broker_unavailable`` with ``message`` (what happened to the request, and what to do)."""
    try:
        await publish(event)
    except Exception as error:
        log.warning("could not publish", topic=event.topic, error=f"{type(error).__name__}: {error}")
        raise BrokerUnavailable(error, message=message) from error


async def request_background_removal(
    model_id: uuid.UUID, *, caller: Caller, status: ModelLookup, storage: Storage, publish: Publisher
) -> StageRequested:
    """Ask the background-removal workers to (re-)run, when the model's state allows it."""
    with bound_model(model_id), _logged_refusal("background removal request"):
        model = await status.get_model(model_id, caller.token)
        originals = await stored_originals(storage, model_id)
        ensure_background_removal_allowed(model, originals)
        await _publish_or_unavailable(
            publish,
            BackgroundRemovalRequested(
                model_id=model_id,
                producer=PRODUCER,
                original_keys=originals,
                provider=model.provider,
                options=model.options,
                requested_by=caller.subject,
            ),
            _REQUEST_NOT_SENT,
        )
        log.info("background removal requested", previous_status=model.status.value)
        return StageRequested(model_id=model_id, requested="background_removal")


async def request_generation(
    model_id: uuid.UUID,
    provider: str | None,
    *,
    options: GenerationOptionsChange | None = None,
    caller: Caller,
    status: ModelLookup,
    storage: Storage,
    publish: Publisher,
    providers: Iterable[str],
) -> StageRequested:
    """Ask the generation workers to (re-)run with the four cut-outs, when the model's state allows it.
    ``provider`` and ``options`` override the model's for this run (options field by field)."""
    known = list(providers)
    with bound_model(model_id), _logged_refusal("generation request", provider=provider):
        if provider is not None and provider not in known:
            raise InvalidInput(
                f"unknown provider {provider[:40]!r}: use one of {', '.join(known)}",
                code="invalid_provider",
                detail={"provider": provider[:40], "allowed": known},
            )
        model = await status.get_model(model_id, caller.token)
        cutouts = await stored_cutouts(storage, model_id)
        ensure_generation_allowed(model, cutouts)
        chosen = model.options
        if options is not None:
            chosen = (model.options or GenerationOptions()).overridden(options)
        await _publish_or_unavailable(
            publish,
            GenerationRequested(
                model_id=model_id,
                producer=PRODUCER,
                cutout_keys=cutouts,
                provider=provider or model.provider,
                options=chosen,
                requested_by=caller.subject,
            ),
            _REQUEST_NOT_SENT,
        )
        log.info(
            "generation requested",
            provider=provider or model.provider,
            options=chosen.model_dump() if chosen else None,
        )
        return StageRequested(model_id=model_id, requested="generation")
