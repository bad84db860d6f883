"""The background-removal handlers with the real u2netp model and a real S3 store (SeaweedFS).

Every failure ends in one ``model.failed`` with a reason the user can act on; nothing raises out of the
handler (so no consumer crashes) and every trigger produces a final event (so nothing is lost).
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from pathlib import Path

import pytest
from PIL import Image

from photo3d_bgremoval import handlers, model_files
from photo3d_bgremoval.remover import BackgroundRemovalSettings, BackgroundRemover, prepare_process
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
from photo3d_common.storage import ObjectStorage, original_key
from tests.support.photos import make_photo
from tests.support.s3_requests import counted_requests

ROOT = Path(__file__).resolve().parents[3]
MODEL_DIR = ROOT / "var" / "models" / "u2net"


@pytest.fixture(scope="module")
def remover():
    model_files.install(MODEL_DIR)
    settings = BackgroundRemovalSettings(model_dir=MODEL_DIR, max_side_px=640)
    prepare_process(settings)
    return BackgroundRemover(settings)


class Recorder(list):
    async def __call__(self, event) -> None:
        self.append(event)

    def of(self, kind):
        return [event for event in self if isinstance(event, kind)]


async def _store_originals(storage: ObjectStorage, model_id: uuid.UUID, photos: dict[str, bytes]) -> dict:
    keys = {}
    for view, data in photos.items():
        keys[view] = original_key(model_id, view)
        await storage.put_bytes(keys[view], data, content_type="image/jpeg")
    return keys


def _photos(**options) -> dict[str, bytes]:
    """One mug from the four sides (right and back mirrored, as real opposite views are; the same object
    height in all). ``options`` per view go to ``make_photo`` (e.g. ``left={"distractor": "box"}``)."""
    kinds = dict.fromkeys(VIEWS, "mug")
    photos = {}
    for i, view in enumerate(VIEWS):
        image = make_photo(kinds[view], size=(640, 480), seed=i, **options.get(view, {})).image
        if view in ("right", "back"):
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=92)
        photos[view] = buffer.getvalue()
    return photos


def _uploaded(model_id, keys, *, start=True) -> PhotoUploaded:
    return PhotoUploaded(
        model_id=model_id,
        producer="test",
        view="back",
        object_key=keys["back"],
        content_type="image/jpeg",
        width=640,
        height=480,
        size_bytes=1,
        sha256="x",
        original_keys=keys,
        all_views_uploaded=True,
        start_processing=start,
    )


async def test_four_cutouts_stored_and_announced(object_storage, remover):
    model_id = uuid.uuid4()
    keys = await _store_originals(object_storage, model_id, _photos())
    published = Recorder()

    await handlers.on_photo_uploaded(
        _uploaded(model_id, keys), storage=object_storage, remover=remover, publish=published
    )

    assert isinstance(published[0], BackgroundRemovalStarted)
    progress = published.of(StageProgressed)
    assert [p.progress for p in progress] == [0.25, 0.5, 0.75, 1.0]
    assert all(p.stage is Stage.BACKGROUND_REMOVAL for p in progress)
    (done,) = published.of(BackgroundRemoved)
    assert published[-1] is done and not published.of(ModelFailed)
    assert set(done.cutout_keys) == set(VIEWS)
    for view, key in done.cutout_keys.items():
        assert key == f"models/{model_id}/cutouts/{view}.png"
        cutout = Image.open(io.BytesIO(await object_storage.get_bytes(key)))
        assert cutout.format == "PNG" and cutout.mode == "RGBA"
        alpha = cutout.getchannel("A")
        # the object is centred with a transparent margin: corners clear, centre solid
        assert alpha.getpixel((0, 0)) == 0 and alpha.getpixel((cutout.width // 2, cutout.height // 2)) > 200


async def test_a_set_costs_one_read_per_photo_and_no_head(object_storage, remover):
    """Issue 13: a first run reads each original once (its ETag, from that read, fingerprints it: no HEAD
    before), looks for an earlier answer and a manifest once each, and writes four cut-outs, the manifest
    and its answer."""
    model_id = uuid.uuid4()
    keys = await _store_originals(object_storage, model_id, _photos())

    with counted_requests(object_storage) as sent:
        await handlers.on_photo_uploaded(
            _uploaded(model_id, keys), storage=object_storage, remover=remover, publish=Recorder()
        )

    assert sent == {"GetObject": 6, "PutObject": 6}


async def test_a_second_object_behind_one_photo_is_removed_or_that_photo_named(object_storage, remover):
    """A box behind the mug in the left photo: the cut-outs are checked against each other, so the box
    is either cut away (the left cut-out shows the mug as the right one does, with a warning naming the
    left photo) or the stage fails naming it. Passing the box on silently fails this test."""
    model_id = uuid.uuid4()
    photos = _photos(left={"distractor": "box", "distractor_offset": (0.2, -0.06)})
    keys = await _store_originals(object_storage, model_id, photos)
    published = Recorder()

    await handlers.on_photo_uploaded(
        _uploaded(model_id, keys), storage=object_storage, remover=remover, publish=published
    )

    failed = published.of(ModelFailed)
    if failed:
        assert "left photo" in failed[0].reason and failed[0].stage is Stage.BACKGROUND_REMOVAL
        return
    (done,) = published.of(BackgroundRemoved)
    shapes = {}
    for view in ("left", "right"):
        cutout = Image.open(io.BytesIO(await object_storage.get_bytes(done.cutout_keys[view])))
        left, top, right, bottom = cutout.getchannel("A").point(lambda a: 255 * (a > 127)).getbbox()
        shapes[view] = (right - left) / (bottom - top)
    assert shapes["left"] == pytest.approx(shapes["right"], rel=0.1), shapes
    assert [w.code for w in done.view_warnings["left"]] == ["cutout_corrected"]
    assert "left photo" in done.view_warnings["left"][0].message


async def test_consistent_photos_carry_no_warnings(object_storage, remover):
    model_id = uuid.uuid4()
    keys = await _store_originals(object_storage, model_id, _photos())
    published = Recorder()
    await handlers.on_photo_uploaded(
        _uploaded(model_id, keys), storage=object_storage, remover=remover, publish=published
    )
    (done,) = published.of(BackgroundRemoved)
    assert done.view_warnings == {}


async def test_incomplete_set_does_not_start(object_storage, remover):
    model_id = uuid.uuid4()
    keys = await _store_originals(object_storage, model_id, _photos())
    published = Recorder()
    await handlers.on_photo_uploaded(
        _uploaded(model_id, keys, start=False), storage=object_storage, remover=remover, publish=published
    )
    assert published == []


async def test_redelivery_republishes_without_redoing_the_work(object_storage, remover):
    """Issue 9, defect 3: the same trigger again (a redelivery or a replay, same event id) gets the earlier
    background.removed again, the same event, and starts nothing; a new trigger for the same originals (a
    re-run) starts the stage and reuses the stored cut-outs."""
    model_id = uuid.uuid4()
    keys = await _store_originals(object_storage, model_id, _photos())
    first, second, third = Recorder(), Recorder(), Recorder()
    event = _uploaded(model_id, keys)
    await handlers.on_photo_uploaded(event, storage=object_storage, remover=remover, publish=first)
    (done,) = first.of(BackgroundRemoved)
    before = await object_storage.head(done.cutout_keys["front"])

    await handlers.on_photo_uploaded(event, storage=object_storage, remover=remover, publish=second)
    assert second == [done]  # same event id: consumers drop it; no start, no progress
    assert (await object_storage.head(done.cutout_keys["front"])).etag == before.etag

    rerun = BackgroundRemovalRequested(
        model_id=model_id, producer="test", original_keys=keys, requested_by="a"
    )
    await handlers.on_removal_requested(rerun, storage=object_storage, remover=remover, publish=third)
    assert [type(e) for e in third] == [BackgroundRemovalStarted, BackgroundRemoved]
    assert third[-1].source_fingerprint == done.source_fingerprint
    assert (await object_storage.head(third[-1].cutout_keys["front"])).etag == before.etag


async def test_replaced_photo_is_cut_out_again(object_storage, remover):
    model_id = uuid.uuid4()
    photos = _photos()
    keys = await _store_originals(object_storage, model_id, photos)
    first, second = Recorder(), Recorder()
    await handlers.on_photo_uploaded(
        _uploaded(model_id, keys), storage=object_storage, remover=remover, publish=first
    )
    await object_storage.put_bytes(
        keys["left"], make_photo("box", size=(640, 480), seed=9).jpeg(), content_type="image/jpeg"
    )
    request = BackgroundRemovalRequested(
        model_id=model_id, producer="test", original_keys=keys, requested_by="alice"
    )
    await handlers.on_removal_requested(request, storage=object_storage, remover=remover, publish=second)
    assert len(second.of(StageProgressed)) == 4
    assert second[-1].source_fingerprint != first[-1].source_fingerprint


async def test_missing_photo_fails_with_its_view(object_storage, remover):
    model_id = uuid.uuid4()
    photos = _photos()
    keys = await _store_originals(
        object_storage, model_id, {v: photos[v] for v in ("front", "right", "back")}
    )
    keys["left"] = original_key(model_id, "left")
    published = Recorder()
    await handlers.on_photo_uploaded(
        _uploaded(model_id, keys), storage=object_storage, remover=remover, publish=published
    )
    (failed,) = published.of(ModelFailed)
    assert failed.stage is Stage.BACKGROUND_REMOVAL and failed.error_code == "photo_missing"
    assert "left photo is missing" in failed.reason and not failed.retryable


async def test_corrupt_image_that_passed_the_header_check_fails_with_a_reason(object_storage, remover):
    model_id = uuid.uuid4()
    photos = _photos()
    photos["right"] = photos["right"][: len(photos["right"]) // 3]  # a real JPEG header, truncated body
    keys = await _store_originals(object_storage, model_id, photos)
    published = Recorder()
    await handlers.on_photo_uploaded(
        _uploaded(model_id, keys), storage=object_storage, remover=remover, publish=published
    )
    (failed,) = published.of(ModelFailed)
    assert "right" in failed.reason
    assert not published.of(BackgroundRemoved)


async def test_empty_photos_on_opposite_sides_say_no_object_found(object_storage, remover):
    from tests.support.photos import blank_photo

    model_id = uuid.uuid4()
    photos = _photos()
    buffer = io.BytesIO()
    blank_photo((640, 480)).save(buffer, format="JPEG")
    photos["left"] = photos["right"] = buffer.getvalue()
    keys = await _store_originals(object_storage, model_id, photos)
    published = Recorder()
    await handlers.on_photo_uploaded(
        _uploaded(model_id, keys), storage=object_storage, remover=remover, publish=published
    )
    (failed,) = published.of(ModelFailed)
    assert "no object found in the left photo" in failed.reason.lower()


async def test_missing_model_file_fails_retryably(object_storage, tmp_path):
    model_id = uuid.uuid4()
    keys = await _store_originals(object_storage, model_id, _photos())
    remover = BackgroundRemover(BackgroundRemovalSettings(model_dir=tmp_path / "empty"))
    published = Recorder()
    await handlers.on_photo_uploaded(
        _uploaded(model_id, keys), storage=object_storage, remover=remover, publish=published
    )
    (failed,) = published.of(ModelFailed)
    assert failed.error_code == "model_file_missing" and failed.retryable
    assert "u2netp" in failed.reason


async def test_exception_inside_rembg_fails_with_a_reason(object_storage, tmp_path):
    # A model file onnxruntime cannot load: rembg raises while creating its session.
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(MODEL_DIR / "u2netp.onnx", broken / "u2netp.onnx")
    os.truncate(broken / "u2netp.onnx", 4096)
    model_id = uuid.uuid4()
    keys = await _store_originals(object_storage, model_id, _photos())
    remover = BackgroundRemover(BackgroundRemovalSettings(model_dir=broken))
    published = Recorder()
    await handlers.on_photo_uploaded(
        _uploaded(model_id, keys), storage=object_storage, remover=remover, publish=published
    )
    (failed,) = published.of(ModelFailed)
    assert failed.stage is Stage.BACKGROUND_REMOVAL and failed.retryable
    assert failed.error_code in {"model_load_failed", "background_removal_failed"}


async def test_a_replayed_trigger_of_a_failed_model_repeats_the_failure_and_starts_nothing(
    object_storage, remover
):
    model_id = uuid.uuid4()
    photos = _photos()
    keys = await _store_originals(
        object_storage, model_id, {v: photos[v] for v in ("front", "right", "back")}
    )
    keys["left"] = original_key(model_id, "left")
    trigger = _uploaded(model_id, keys)
    first = Recorder()
    await handlers.on_photo_uploaded(trigger, storage=object_storage, remover=remover, publish=first)
    (failed,) = first.of(ModelFailed)
    # the missing photo arrives meanwhile: only a real re-run request (a new trigger) may use it
    await object_storage.put_bytes(keys["left"], photos["left"], content_type="image/jpeg")

    replayed = Recorder()
    await handlers.on_photo_uploaded(trigger, storage=object_storage, remover=remover, publish=replayed)
    assert replayed == [failed]

    rerun = Recorder()
    request = BackgroundRemovalRequested(
        model_id=model_id, producer="test", original_keys=keys, requested_by="alice"
    )
    await handlers.on_removal_requested(request, storage=object_storage, remover=remover, publish=rerun)
    assert isinstance(rerun[0], BackgroundRemovalStarted) and rerun.of(BackgroundRemoved)
