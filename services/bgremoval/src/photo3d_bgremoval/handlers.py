"""Background removal for one model: plain async functions of the event and named dependencies.

A trigger is answered once (``photo3d_common.outcomes``): a redelivered or replayed one gets its earlier
answer republished, and starts nothing.

Idempotent: cut-outs go to deterministic keys, and a manifest remembers which originals (by ETag) they
came from, so a redelivered trigger republishes the result instead of redoing the work.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid

from photo3d_common.concurrency import run_blocking
from photo3d_common.errors import Photo3DError, dependency_failure
from photo3d_common.events import (
    VIEWS,
    BackgroundRemovalRequested,
    BackgroundRemovalStarted,
    BackgroundRemoved,
    GenerationOptions,
    PhotoUploaded,
    Stage,
    StageProgressed,
    View,
    ViewWarning,
)
from photo3d_common.failures import failure_event
from photo3d_common.logging import bound_model, get_logger
from photo3d_common.outcomes import answer_once
from photo3d_common.ports import Publisher, Storage
from photo3d_common.storage import ObjectNotFound, cutout_key

from .cutout import NoSubjectFound
from .ports import Remover
from .remover import CutoutResult
from .stand_ins import refine_and_check

#: Version of the cross-view check of the cut-outs: stored cut-outs from another version are redone.
CHECK_VERSION = 1

log = get_logger(__name__)
PRODUCER = "bgremoval"


class PhotoMissing(Photo3DError):
    code = "photo_missing"
    retryable = False


def manifest_key(model_id: uuid.UUID) -> str:
    return f"models/{model_id}/cutouts/manifest.json"


async def on_photo_uploaded(
    event: PhotoUploaded, *, storage: Storage, remover: Remover, publish: Publisher
) -> None:
    if not event.start_processing:
        return  # a view of a set still being collected, or a replacement waiting for an explicit re-run
    await _answer_once(event, storage=storage, remover=remover, publish=publish)


async def on_removal_requested(
    event: BackgroundRemovalRequested, *, storage: Storage, remover: Remover, publish: Publisher
) -> None:
    await _answer_once(event, storage=storage, remover=remover, publish=publish)


async def _answer_once(
    trigger: PhotoUploaded | BackgroundRemovalRequested,
    *,
    storage: Storage,
    remover: Remover,
    publish: Publisher,
) -> None:
    """A redelivered or replayed trigger gets its earlier answer again and starts nothing."""
    await answer_once(
        trigger,
        service=PRODUCER,
        storage=storage,
        publish=publish,
        handle=lambda answer: remove_backgrounds(
            trigger.model_id,
            trigger.original_keys,
            trigger.provider,
            storage=storage,
            remover=remover,
            publish=answer,
            options=trigger.options,
        ),
    )


async def remove_backgrounds(
    model_id: uuid.UUID,
    original_keys: dict[View, str],
    provider: str | None,
    *,
    storage: Storage,
    remover: Remover,
    publish: Publisher,
    options: GenerationOptions | None = None,
) -> None:
    """``provider`` and ``options`` are the model's, passed on to generation with the cut-outs."""
    with bound_model(model_id):
        started = time.perf_counter()
        await publish(BackgroundRemovalStarted(model_id=model_id, producer=PRODUCER))
        try:
            previous = await _reuse_previous(model_id, original_keys, remover.model_name, storage)
            if previous is None:
                cutout_keys, warnings, fingerprint = await _cut_out_all(
                    model_id, original_keys, storage=storage, remover=remover, publish=publish
                )
                await storage.put_bytes(
                    manifest_key(model_id),
                    json.dumps(
                        {
                            "source_fingerprint": fingerprint,
                            "model": remover.model_name,
                            "check": CHECK_VERSION,
                            "cutout_keys": cutout_keys,
                            "view_warnings": {
                                view: [warning.model_dump() for warning in found]
                                for view, found in warnings.items()
                            },
                        }
                    ).encode(),
                    content_type="application/json",
                )
            else:
                cutout_keys, warnings, fingerprint = previous
                log.info("cut-outs of these originals already stored: republishing", fingerprint=fingerprint)
        except Exception as error:  # every failure ends the stage with a reason, or waits (outage)
            if dependency_failure(error) is not None:
                raise  # not the work's fault: the consumer waits for the dependency and runs this again
            await publish(
                failure_event(error, Stage.BACKGROUND_REMOVAL, model_id=model_id, producer=PRODUCER)
            )
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
                options=options,
                duration_s=duration,
                view_warnings=warnings,
            )
        )


def _photo_missing(view: View) -> PhotoMissing:
    return PhotoMissing(
        f"the {view} photo is missing: upload it, then run background removal again", detail={"view": view}
    )


def _fingerprint(etags: dict[View, tuple[str, str | None]]) -> str:
    """Which originals (key and ETag of each view) the cut-outs are made from."""
    digest = hashlib.sha256()
    for view in VIEWS:
        key, etag = etags[view]
        digest.update(f"{view}={key}@{etag}\n".encode())
    return digest.hexdigest()


async def _source_fingerprint(original_keys: dict[View, str], storage: Storage) -> str:
    """The originals' fingerprint without reading them (a HEAD each): only to compare with a manifest."""
    etags: dict[View, tuple[str, str | None]] = {}
    for view in VIEWS:
        key = original_keys.get(view)
        info = await storage.head(key) if key else None
        if key is None or info is None:
            raise _photo_missing(view)
        etags[view] = (key, info.etag)
    return _fingerprint(etags)


async def _reuse_previous(
    model_id: uuid.UUID, original_keys: dict[View, str], model_name: str, storage: Storage
) -> tuple[dict[View, str], dict[View, list[ViewWarning]], str] | None:
    """The stored cut-outs, their warnings and fingerprint, when a manifest says they were made from these
    originals by this model and check. Without a manifest (a model's first run) nothing is asked about the
    originals here: their reads for the cut-outs give the fingerprint."""
    try:
        manifest = json.loads(await storage.get_bytes(manifest_key(model_id)))
    except ObjectNotFound:
        return None
    if manifest.get("model") != model_name or manifest.get("check") != CHECK_VERSION:
        return None
    fingerprint = await _source_fingerprint(original_keys, storage)
    if manifest.get("source_fingerprint") != fingerprint:
        return None
    keys: dict[View, str] = manifest.get("cutout_keys", {})
    for view in VIEWS:
        if view not in keys or await storage.head(keys[view]) is None:
            return None
    warnings = {
        view: [ViewWarning.model_validate(w) for w in found]
        for view, found in manifest.get("view_warnings", {}).items()
    }
    return keys, warnings, fingerprint


async def _cut_out_all(
    model_id: uuid.UUID,
    original_keys: dict[View, str],
    *,
    storage: Storage,
    remover: Remover,
    publish: Publisher,
) -> tuple[dict[View, str], dict[View, list[ViewWarning]], str]:
    """Cut out each photo, check the four cut-outs against each other, store them. Also returns the
    originals' fingerprint, from the ETags their reads answered with (the bytes cut out are the ones
    fingerprinted)."""
    results: dict[View, CutoutResult | NoSubjectFound] = {}
    etags: dict[View, tuple[str, str | None]] = {}
    # the four photos are read and cut out at once: the remover computes one mask at a time and decodes,
    # frames and encodes the others beside it, and the storage round trips overlap that work
    cut_outs = {
        view: asyncio.ensure_future(_read_and_cut_out(view, original_keys, storage, remover))
        for view in VIEWS
    }
    try:
        for done, view in enumerate(VIEWS, start=1):
            etags[view], results[view] = await cut_outs[view]
            await publish(
                StageProgressed(
                    model_id=model_id,
                    producer=PRODUCER,
                    stage=Stage.BACKGROUND_REMOVAL,
                    progress=done / len(VIEWS),
                    detail=f"{view} photo done",
                )
            )
    finally:  # a failed photo leaves no read or cut-out of the others running
        for cut_out in cut_outs.values():
            cut_out.cancel()
        await asyncio.gather(*cut_outs.values(), return_exceptions=True)
    pngs, warnings = await run_blocking(_check, results, remover)
    keys = {view: cutout_key(model_id, view) for view in VIEWS}
    stored = await asyncio.gather(
        *(
            storage.put_bytes(
                keys[view], pngs[view], content_type="image/png", metadata={"source-key": original_keys[view]}
            )
            for view in VIEWS
        ),
        return_exceptions=True,  # every store has ended before the stage answers, the first view's error wins
    )
    for outcome in stored:
        if isinstance(outcome, BaseException):
            raise outcome
    return keys, warnings, _fingerprint(etags)


async def _read_and_cut_out(
    view: View, original_keys: dict[View, str], storage: Storage, remover: Remover
) -> tuple[tuple[str, str | None], CutoutResult | NoSubjectFound]:
    """The view's original photo read, its (key, ETag), and its cut-out."""
    key = original_keys.get(view)
    if key is None:
        raise _photo_missing(view)
    try:
        info, photo = await storage.get_object(key)
    except ObjectNotFound as error:
        raise _photo_missing(view) from error
    return (key, info.etag), await _cut_out(view, photo, remover)


async def _cut_out(view: View, photo: bytes, remover: Remover) -> CutoutResult | NoSubjectFound:
    """The view's cut-out, or the refusal when no object was found (the opposite photo's outline may
    stand in: stand_ins.py)."""
    try:
        result = await remover.remove(photo, view=view)
    except NoSubjectFound as nothing:
        log.info("no object found", view=view, reason=nothing.message)
        return nothing
    log.info(
        "cut-out made",
        view=view,
        width=result.width,
        height=result.height,
        coverage=round(result.quality.coverage, 4),
    )
    return result


def _check(
    results: dict[View, CutoutResult | NoSubjectFound], remover: Remover
) -> tuple[dict[View, bytes], dict[View, list[ViewWarning]]]:
    """The cross-view check, with a stand-in for one unusable photo (CPU work, off the event loop)."""
    checked = refine_and_check(results, remover.settings)
    for view, check in checked.checked.checks.items():
        if view in checked.checked.corrected or check.warnings or view in checked.stand_ins:
            log.warning(
                "cut-out checked against the other views",
                view=view,
                corrected=view in checked.checked.corrected,
                outline_of=checked.stand_ins.get(view),
                removed_share=round(check.removed_share, 3),
                pair_iou=round(check.pair_iou, 3),
            )
    return checked.pngs, checked.warnings
