"""The background-removal handlers on in-memory fakes of storage, model and publisher: what they store,
publish and refuse, without SeaweedFS or the model (tests/integration/bgremoval has the real ones)."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from photo3d_bgremoval import handlers
from photo3d_bgremoval.bootstrap import Deps
from photo3d_bgremoval.cutout import NoSubjectFound
from photo3d_bgremoval.remover import BackgroundRemovalFailed
from photo3d_common.errors import StorageUnavailable
from photo3d_common.events import (
    VIEWS,
    BackgroundRemovalRequested,
    BackgroundRemovalStarted,
    BackgroundRemoved,
    ModelFailed,
    PhotoUploaded,
    Stage,
    StageProgressed,
)
from photo3d_common.storage import STAND_IN_FOR_TEXT, cutout_key, original_key
from photo3d_common.wiring import inject_dependencies
from tests.fakes.ports import FakeRemover, InMemoryStorage, RecordingPublisher, png


def _deps(remover: FakeRemover | None = None) -> Deps:
    return Deps(storage=InMemoryStorage(), remover=remover or FakeRemover(), publish=RecordingPublisher())


async def _originals(deps: Deps, model_id: uuid.UUID, views=VIEWS) -> dict:
    keys = {view: original_key(model_id, view) for view in views}
    for key in keys.values():
        await deps.storage.put_bytes(key, png(), content_type="image/png")
    return keys


def _uploaded(model_id: uuid.UUID, keys: dict, *, start: bool = True) -> PhotoUploaded:
    return PhotoUploaded(
        model_id=model_id,
        producer="test",
        view="back",
        object_key=keys.get("back", ""),
        content_type="image/png",
        width=8,
        height=8,
        size_bytes=1,
        sha256="x",
        original_keys=keys,
        all_views_uploaded=len(keys) == len(VIEWS),
        start_processing=start,
        provider="local",
    )


async def test_a_complete_set_is_cut_out_stored_and_announced():
    deps, model_id = _deps(), uuid.uuid4()
    keys = await _originals(deps, model_id)

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    published = deps.publish
    assert isinstance(published[0], BackgroundRemovalStarted)
    assert [p.progress for p in published.of(StageProgressed)] == [0.25, 0.5, 0.75, 1.0]
    assert all(p.stage is Stage.BACKGROUND_REMOVAL for p in published.of(StageProgressed))
    (done,) = published.of(BackgroundRemoved)
    assert published[-1] is done and done.provider == "local"
    assert done.cutout_keys == {view: cutout_key(model_id, view) for view in VIEWS}
    for view in VIEWS:
        stored = await deps.storage.head(cutout_key(model_id, view))
        assert stored is not None and stored.content_type == "image/png"
        assert stored.metadata == {"source-key": keys[view]}
    manifest = json.loads(await deps.storage.get_bytes(handlers.manifest_key(model_id)))
    assert manifest["model"] == "fake-u2netp" and manifest["source_fingerprint"] == done.source_fingerprint


async def test_a_first_run_reads_each_photo_once_and_asks_nothing_else_about_it():
    """Issue 13: no HEAD per photo before its read (the read's ETag fingerprints it); one look for an
    earlier answer and one for a manifest; four cut-outs, the manifest and the answer written."""
    deps, model_id = _deps(), uuid.uuid4()
    keys = await _originals(deps, model_id)
    deps.storage.requests.clear()

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    assert deps.storage.requests == {"GET": 2 + len(VIEWS), "PUT": len(VIEWS) + 2}


async def test_a_set_still_being_collected_does_nothing():
    deps, model_id = _deps(), uuid.uuid4()
    keys = await _originals(deps, model_id, views=("front",))

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys, start=False))

    assert deps.publish == [] and deps.remover.calls == []


async def test_a_redelivered_trigger_republishes_without_redoing_the_work():
    remover = FakeRemover()
    deps, model_id = _deps(remover), uuid.uuid4()
    keys = await _originals(deps, model_id)
    handle = inject_dependencies(handlers.on_photo_uploaded, deps)
    await handle(_uploaded(model_id, keys))
    calls = len(remover.calls)

    await inject_dependencies(handlers.on_removal_requested, deps)(
        BackgroundRemovalRequested(
            model_id=model_id, producer="test", original_keys=keys, requested_by="alice"
        )
    )

    assert calls == len(VIEWS) and len(remover.calls) == calls
    # the manifest's fingerprint (from the reads' ETags) is the one the re-run computes from HEADs
    first, second = deps.publish.of(BackgroundRemoved)
    assert first.cutout_keys == second.cutout_keys and first.source_fingerprint == second.source_fingerprint


async def test_a_replaced_photo_is_cut_out_again():
    remover = FakeRemover()
    deps, model_id = _deps(remover), uuid.uuid4()
    keys = await _originals(deps, model_id)
    handle = inject_dependencies(handlers.on_photo_uploaded, deps)
    await handle(_uploaded(model_id, keys))
    await deps.storage.put_bytes(keys["left"], png(colour=(0, 0, 255, 255)), content_type="image/png")

    await handle(_uploaded(model_id, keys))

    assert len(remover.calls) == 2 * len(VIEWS)
    first, second = deps.publish.of(BackgroundRemoved)
    assert first.source_fingerprint != second.source_fingerprint


async def test_a_missing_photo_fails_with_what_to_do():
    deps, model_id = _deps(), uuid.uuid4()
    keys = await _originals(deps, model_id)
    await deps.storage.delete_keys([keys["right"]])

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    (failed,) = deps.publish.of(ModelFailed)
    assert deps.publish[-1] is failed and not deps.publish.of(BackgroundRemoved)
    assert failed.error_code == "photo_missing" and failed.retryable is False
    assert failed.stage is Stage.BACKGROUND_REMOVAL and "right photo is missing" in failed.reason
    assert json.loads(failed.detail or "") == {"view": "right"}


async def test_a_model_error_ends_the_stage_with_its_reason():
    error = BackgroundRemovalFailed(
        "background removal failed on the left photo; try again", detail={"view": "left"}
    )
    deps, model_id = _deps(FakeRemover(fail_on="left", fail_with=error)), uuid.uuid4()
    keys = await _originals(deps, model_id)

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    (failed,) = deps.publish.of(ModelFailed)
    assert failed.error_code == error.code and failed.reason == error.message
    assert failed.retryable is error.retryable
    assert [p.detail for p in deps.publish.of(StageProgressed)] == ["front photo done"]


class SlowAfterTheFront(InMemoryStorage):
    """Storage whose reads of the photos after the front one are still on the way; it notes the reads
    that were cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.cancelled: set[str] = set()

    async def get_object(self, key: str):
        if "/originals/" in key and not key.endswith("/front"):
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled.add(key.rsplit("/", 1)[-1])
                raise
        return await super().get_object(key)


async def test_a_failed_photo_leaves_no_read_of_the_others_running():
    error = BackgroundRemovalFailed("background removal failed on the front photo; try again")
    remover = FakeRemover(fail_on="front", fail_with=error)
    deps = Deps(storage=SlowAfterTheFront(), remover=remover, publish=RecordingPublisher())
    model_id = uuid.uuid4()
    keys = await _originals(deps, model_id)

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    (failed,) = deps.publish.of(ModelFailed)
    assert failed.error_code == error.code
    assert deps.storage.cancelled == {"left", "right", "back"}  # the reads ahead ended with the stage


class AllAtOnce(FakeRemover):
    """A remover that answers only once the four photos are in it at the same time."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = asyncio.Barrier(len(VIEWS))

    async def remove(self, photo: bytes, *, view: str | None = None) -> Any:
        async with asyncio.timeout(10):  # a stage that cut out one photo after another never gets here
            await self.in_flight.wait()
        return await super().remove(photo, view=view)


async def test_a_sets_four_photos_are_handed_to_the_remover_at_once():
    """The remover computes one mask at a time and decodes, frames and encodes the other photos beside it:
    it can only do so with all four in hand."""
    remover = AllAtOnce()
    deps, model_id = _deps(remover), uuid.uuid4()
    keys = await _originals(deps, model_id)

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    assert deps.publish.of(BackgroundRemoved) and not deps.publish.of(ModelFailed)
    # progress still follows the views' order, whichever photo the remover finished first
    assert [p.detail for p in deps.publish.of(StageProgressed)] == [f"{view} photo done" for view in VIEWS]


class FailingStores(InMemoryStorage):
    """Storage that fails to store the left cut-out (slowly: an outage) and the back one (at once)."""

    def __init__(self) -> None:
        super().__init__()
        self.stores_ended: list[str] = []

    async def put_bytes(self, key: str, data: bytes, **kwargs: Any) -> None:
        if "/cutouts/" not in key:
            return await super().put_bytes(key, data, **kwargs)
        view = key.rsplit("/", 1)[-1].removesuffix(".png")
        try:
            if view == "left":
                await asyncio.sleep(0.05)
                raise StorageUnavailable("object storage is unavailable; try again")
            if view == "back":
                raise ValueError("bug")
            return await super().put_bytes(key, data, **kwargs)
        finally:
            self.stores_ended.append(view)


async def test_a_failed_store_answers_with_the_first_views_error_once_every_store_has_ended():
    deps = Deps(storage=FailingStores(), remover=FakeRemover(), publish=RecordingPublisher())
    model_id = uuid.uuid4()
    keys = await _originals(deps, model_id)

    # the left cut-out's outage (the consumer waits and runs it again), not the back one's error that came
    # first: that would have failed the model
    with pytest.raises(StorageUnavailable):
        await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    assert not deps.publish.of(ModelFailed)
    assert sorted(deps.storage.stores_ended) == sorted(VIEWS)


def _nothing_in(view: str) -> NoSubjectFound:
    return NoSubjectFound(f"no object found in the {view} photo: ...", detail={"view": view})


async def test_a_photo_without_an_object_is_stood_in_for_by_its_opposites_outline():
    deps, model_id = _deps(FakeRemover(fail_on="right", fail_with=_nothing_in("right"))), uuid.uuid4()
    keys = await _originals(deps, model_id)

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    assert not deps.publish.of(ModelFailed)
    (done,) = deps.publish.of(BackgroundRemoved)
    (warning,) = done.view_warnings["right"]
    assert warning.code == "outline_from_opposite" and "left photo's, mirrored" in warning.message
    stored = Image.open(io.BytesIO(await deps.storage.get_bytes(cutout_key(model_id, "right"))))
    left = Image.open(io.BytesIO(await deps.storage.get_bytes(cutout_key(model_id, "left"))))
    assert stored.info[STAND_IN_FOR_TEXT] == "left" and STAND_IN_FOR_TEXT not in left.info
    assert stored.tobytes() == ImageOps.mirror(left.convert("RGBA")).tobytes()


async def test_two_unusable_photos_still_fail_with_the_photos_reason():
    remover = FakeRemover(fail_on=("left", "right"), fail_with=_nothing_in("left"))
    deps, model_id = _deps(remover), uuid.uuid4()
    keys = await _originals(deps, model_id)

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    (failed,) = deps.publish.of(ModelFailed)
    assert failed.error_code == "no_subject_found" and "left photo" in failed.reason
    assert not deps.publish.of(BackgroundRemoved)


async def test_an_unexpected_error_is_a_retryable_internal_failure():
    deps, model_id = _deps(FakeRemover(fail_on="front", fail_with=ValueError("bug"))), uuid.uuid4()
    keys = await _originals(deps, model_id)

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    (failed,) = deps.publish.of(ModelFailed)
    assert failed.error_code == "internal_error" and failed.retryable is True
    assert failed.detail == "ValueError: bug"


class RefusingOnABusyBackdrop(FakeRemover):
    """Generated photos of one object (tests/unit/bgremoval/test_refine.py): three on a studio sweep with
    exact masks, the back on a busy backdrop, where the model's mask is refused as unclear."""

    def __init__(self) -> None:
        super().__init__()
        from tests.unit.bgremoval import test_refine as scene

        rng = np.random.default_rng(8)
        self.truth = scene.object_mask()
        self.photos = {
            v: Image.fromarray(scene.photo(scene.plain_backdrop(rng), self.truth, rng)) for v in VIEWS
        }
        self.photos["back"] = Image.fromarray(scene.photo(scene.busy_backdrop(rng), self.truth, rng))
        self.refusal = scene.refused(self.photos["back"], scene.unclear_mask(self.truth), "back")
        masks = {v: Image.fromarray(self.truth.astype(np.uint8) * 255) for v in VIEWS}
        self.results = scene.results({v: self.photos[v] for v in VIEWS[:3]}, masks)

    async def remove(self, photo: bytes, *, view: str | None = None) -> Any:
        self.calls.append(view)
        if view == "back":
            raise self.refusal
        return self.results[view]


async def test_a_busy_photo_whose_cut_out_was_refused_is_rebuilt_stored_and_named_in_a_warning():
    remover = RefusingOnABusyBackdrop()
    deps, model_id = _deps(remover), uuid.uuid4()
    keys = await _originals(deps, model_id)

    await inject_dependencies(handlers.on_photo_uploaded, deps)(_uploaded(model_id, keys))

    assert not deps.publish.of(ModelFailed)
    (done,) = deps.publish.of(BackgroundRemoved)
    assert [w.code for w in done.view_warnings["back"]] == ["cutout_rebuilt"]
    stored = Image.open(io.BytesIO(await deps.storage.get_bytes(cutout_key(model_id, "back"))))
    assert STAND_IN_FOR_TEXT not in stored.info  # the back photo's own cut-out, with its own colours
    # the object alone, framed like the plain views' cut-outs (the refused mask held a block beside it)
    front = Image.open(io.BytesIO(await deps.storage.get_bytes(cutout_key(model_id, "front"))))
    solid = np.asarray(stored.getchannel("A")) > 127
    assert abs(stored.width - front.width) <= 2 and stored.width == stored.height
    assert abs(int(solid.sum()) - int((np.asarray(front.getchannel("A")) > 127).sum())) < 0.05 * solid.sum()
