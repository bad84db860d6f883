"""Background removal for one model: plain async functions of the event and named dependencies.

Idempotent: cut-outs go to deterministic keys, and a manifest remembers which originals (by ETag) they
came from, so a redelivered trigger republishes the result instead of redoing the work.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from photo3d_common.broker import Publish
from photo3d_common.errors import Photo3DError
from photo3d_common.events import (
    VIEWS,
    BackgroundRemovalRequested,
    BackgroundRemovalStarted,
    BackgroundRemoved,
    ModelFailed,
    PhotoUploaded,
    Stage,
    StageProgressed,
    View,
)
from photo3d_common.logging import bound_model, get_logger
from photo3d_common.storage import ObjectNotFound, ObjectStorage, cutout_key

from .remover import BackgroundRemover

log = get_logger(__name__)
PRODUCER = "bgremoval"


class PhotoMissing(Photo3DError):
    code = "photo_missing"
    retryable = False


def manifest_key(model_id: uuid.UUID) -> str:
    return f"models/{model_id}/cutouts/manifest.json"


async def on_photo_uploaded(
    event: PhotoUploaded, *, storage: ObjectStorage, remover: BackgroundRemover, publish: Publish
) -> None:
    if not event.start_processing:
        return  # a view of a set still being collected, or a replacement waiting for an explicit re-run
    await remove_backgrounds(
        event.model_id, event.original_keys, event.provider, storage=storage, remover=remover, publish=publish
    )


async def on_removal_requested(
    event: BackgroundRemovalRequested, *, storage: ObjectStorage, remover: BackgroundRemover, publish: Publish
) -> None:
    await remove_backgrounds(
        event.model_id, event.original_keys, event.provider, storage=storage, remover=remover, publish=publish
    )


async def remove_backgrounds(
    model_id: uuid.UUID,
    original_keys: dict[View, str],
    provider: str | None,
    *,
    storage: ObjectStorage,
    remover: BackgroundRemover,
    publish: Publish,
) -> None:
    with bound_model(model_id):
        started = time.perf_counter()
        await publish(BackgroundRemovalStarted(model_id=model_id, producer=PRODUCER))
        try:
            fingerprint = await _source_fingerprint(model_id, original_keys, storage)
            cutout_keys = await _reuse_previous(model_id, fingerprint, remover.model_name, storage)
            if cutout_keys is None:
                cutout_keys = await _cut_out_all(
                    model_id, original_keys, storage=storage, remover=remover, publish=publish
                )
                await storage.put_bytes(
                    manifest_key(model_id),
                    json.dumps(
                        {
                            "source_fingerprint": fingerprint,
                            "model": remover.model_name,
                            "cutout_keys": cutout_keys,
                        }
                    ).encode(),
                    content_type="application/json",
                )
            else:
                log.info("cut-outs of these originals already stored: republishing", fingerprint=fingerprint)
        except Exception as error:  # noqa: BLE001 - every failure ends the stage with a reason
            await publish(_failure(model_id, error))
            return
        duration = time.perf_counter() - started
        log.info("backgrounds removed", duration_s=round(duration, 3))
        await publish(
            BackgroundRemoved(
                model_id=model_id,
                producer=PRODUCER,
                cutout_keys=cutout_keys,
                source_fingerprint=fingerprint,
                provider=provider,
                duration_s=duration,
            )
        )


async def _source_fingerprint(
    model_id: uuid.UUID, original_keys: dict[View, str], storage: ObjectStorage
) -> str:
    digest = hashlib.sha256()
    for view in VIEWS:
        key = original_keys.get(view)
        info = await storage.head(key) if key else None
        if info is None:
            raise PhotoMissing(
                f"the {view} photo is missing: upload it, then run background removal again",
                detail={"view": view},
            )
        digest.update(f"{view}={key}@{info.etag}\n".encode())
    return digest.hexdigest()


async def _reuse_previous(
    model_id: uuid.UUID, fingerprint: str, model_name: str, storage: ObjectStorage
) -> dict[View, str] | None:
    try:
        manifest = json.loads(await storage.get_bytes(manifest_key(model_id)))
    except ObjectNotFound:
        return None
    if manifest.get("source_fingerprint") != fingerprint or manifest.get("model") != model_name:
        return None
    keys: dict[View, str] = manifest.get("cutout_keys", {})
    for view in VIEWS:
        if view not in keys or await storage.head(keys[view]) is None:
            return None
    return keys


async def _cut_out_all(
    model_id: uuid.UUID,
    original_keys: dict[View, str],
    *,
    storage: ObjectStorage,
    remover: BackgroundRemover,
    publish: Publish,
) -> dict[View, str]:
    keys: dict[View, str] = {}
    for done, view in enumerate(VIEWS, start=1):
        try:
            photo = await storage.get_bytes(original_keys[view])
        except ObjectNotFound as error:
            raise PhotoMissing(
                f"the {view} photo is missing: upload it, then run background removal again",
                detail={"view": view},
            ) from error
        result = await remover.process_async(photo, view=view)
        key = cutout_key(model_id, view)
        await storage.put_bytes(
            key, result.png, content_type="image/png", metadata={"source-key": original_keys[view]}
        )
        keys[view] = key
        log.info(
            "cut-out stored",
            view=view,
            width=result.width,
            height=result.height,
            coverage=round(result.quality.coverage, 4),
        )
        await publish(
            StageProgressed(
                model_id=model_id,
                producer=PRODUCER,
                stage=Stage.BACKGROUND_REMOVAL,
                progress=done / len(VIEWS),
                detail=f"{view} photo done",
            )
        )
    return keys


def _failure(model_id: uuid.UUID, error: BaseException) -> ModelFailed:
    if isinstance(error, Photo3DError):
        # the one error line of this failure: the model id is bound, the reason and the exception are here
        log.error("background removal failed", code=error.code, reason=error.message, exc_info=error)
        detail: Any = error.detail
        return ModelFailed(
            model_id=model_id,
            producer=PRODUCER,
            stage=Stage.BACKGROUND_REMOVAL,
            reason=error.message,
            error_code=error.code,
            retryable=bool(getattr(error, "retryable", False)),
            detail=json.dumps(detail, default=str) if detail is not None else None,
        )
    log.exception("background removal failed unexpectedly")
    return ModelFailed(
        model_id=model_id,
        producer=PRODUCER,
        stage=Stage.BACKGROUND_REMOVAL,
        reason="background removal failed unexpectedly; try again in a moment",
        error_code="internal_error",
        retryable=True,
        detail=f"{type(error).__name__}: {error}",
    )
