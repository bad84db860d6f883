"""BackgroundRemover with the real u2netp model on synthetic photos whose true mask is known.

IoU thresholds were measured (tests/support/photos.py, 640x480, seeds 0-9 of vase/box/mug, n=30 per
background; u2netp, onnxruntime 1.32): plain background min 0.994 (mean 0.996); busy background min 0.930
(mean 0.991): the worst case is a mug whose handle hole u2netp fills on clutter (every other busy photo
>= 0.963). The thresholds (0.97 plain, 0.90 busy) are those minima minus a margin for onnxruntime/Pillow
drift; a real regression (wrong resize, lost or flipped alpha, shadow or background taken as object)
falls far below them (a blank mask scores 0, a full-frame one about 0.11).
"""

from __future__ import annotations

import asyncio
import io
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from photo3d_bgremoval.cutout import NoSubjectFound, alpha_bbox
from photo3d_bgremoval.remover import (
    BackgroundRemovalFailed,
    BackgroundRemovalSettings,
    BackgroundRemover,
    ModelFileMissing,
    ModelLoadFailed,
    UnsupportedModel,
    load_session,
)
from tests.support.photos import OBJECT_KINDS, blank_photo, iou, make_photo

IOU_MIN = {"plain": 0.97, "busy": 0.90}


def solid(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A")) > 127


@pytest.mark.parametrize("background", ["plain", "busy"])
@pytest.mark.parametrize("kind", OBJECT_KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_mask_matches_the_true_object(remover, kind, background, seed):
    photo = make_photo(kind, background=background, size=(640, 480), seed=seed)
    result = remover.remove(photo.image, view="front")
    assert result.mode == "RGBA" and result.size == photo.image.size
    assert iou(solid(result), photo.mask) >= IOU_MIN[background]


def test_the_shadow_and_the_handle_hole_stay_background(remover):
    photo = make_photo("mug", background="plain", size=(640, 480), seed=2)
    predicted = solid(remover.remove(photo.image))
    left, top, right, bottom = photo.bbox
    below = predicted[bottom + 8 :, :]  # the contact shadow lies under the object
    assert below.mean() < 0.002
    # the hole of the handle: right of the body, inside the handle ring
    hole = (
        ~photo.mask[top:bottom, (left + right) // 2 : right]
        & predicted[top:bottom, (left + right) // 2 : right]
    )
    assert hole.sum() < 0.2 * (~photo.mask[top:bottom, (left + right) // 2 : right]).sum()


def test_process_returns_a_centred_png_cut_out(remover):
    photo = make_photo("vase", background="busy", size=(800, 600), seed=5)
    result = remover.process(photo.jpeg(), view="left")
    image = Image.open(io.BytesIO(result.png))
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.size == (result.width, result.height) and result.width == result.height
    left, top, right, bottom = alpha_bbox(np.asarray(image.getchannel("A")))
    assert abs((left + right) / 2 - image.width / 2) <= 2
    assert abs((top + bottom) / 2 - image.height / 2) <= 2
    # object size at original resolution: the cut-out is not scaled down below the source
    _, true_top, _, true_bottom = photo.bbox
    assert abs((bottom - top) - (true_bottom - true_top)) <= 6
    assert min(left, top, image.width - right, image.height - bottom) >= 0.05 * (bottom - top)
    assert result.quality.coverage == pytest.approx(photo.mask.mean(), abs=0.01)


def test_large_photos_are_capped(settings):
    capped = BackgroundRemover(settings.model_copy(update={"max_side_px": 1024}))
    photo = make_photo("box", background="plain", size=(1500, 1000), seed=1)
    cutout = capped.cut_out(photo.image, view="front")
    assert cutout.source_size == (1024, 683)
    assert max(cutout.image.size) <= 1024


@pytest.mark.parametrize("colour", [(236, 236, 232), (30, 30, 30), (128, 128, 128), (200, 60, 40)])
def test_an_empty_photo_is_no_subject_found(remover, colour):
    with pytest.raises(NoSubjectFound, match="the left photo") as caught:
        remover.cut_out(blank_photo((640, 480), colour=colour), view="left")
    assert caught.value.retryable is False


def test_a_missing_model_file_is_a_clear_error_and_nothing_is_downloaded(settings, tmp_path):
    missing = BackgroundRemover(settings.model_copy(update={"model_dir": tmp_path}))
    with pytest.raises(ModelFileMissing, match=r"u2netp\.onnx") as caught:
        missing.remove(make_photo("vase", size=(320, 240)).image)
    assert str(tmp_path) in caught.value.message
    assert "model_files install" in caught.value.message
    assert list(tmp_path.rglob("*")) == []  # no partial download was started


def test_another_model_name_loads_its_own_file_from_the_directory(settings, model_dir, tmp_path):
    # silueta is a u2net-architecture model with u2netp's input and output: u2netp's weights stand in
    shutil.copy(model_dir / "u2netp.onnx", tmp_path / "silueta.onnx")
    other = BackgroundRemover(settings.model_copy(update={"model_dir": tmp_path, "model_name": "silueta"}))
    photo = make_photo("box", size=(640, 480))
    assert iou(solid(other.remove(photo.image)), photo.mask) >= IOU_MIN["plain"]
    assert type(load_session(other.settings)).__name__ == "SiluetaSession"


def test_an_unknown_model_name_is_rejected(settings):
    with pytest.raises(UnsupportedModel, match="u2netp"):
        BackgroundRemover(settings.model_copy(update={"model_name": "no-such-model"})).load()


def test_a_corrupt_model_file_is_a_load_error(settings, tmp_path):
    (tmp_path / "u2netp.onnx").write_bytes(b"this is not an onnx model")
    with pytest.raises(ModelLoadFailed, match="could not be loaded"):
        BackgroundRemover(settings.model_copy(update={"model_dir": tmp_path})).load()


def test_an_exception_inside_rembg_surfaces_as_a_clear_error(remover, monkeypatch):
    session = load_session(remover.settings)

    def broken_predict(*args, **kwargs):
        raise RuntimeError("onnxruntime ran out of memory")

    monkeypatch.setattr(session, "predict", broken_predict)
    with pytest.raises(
        BackgroundRemovalFailed, match="background removal failed on the back photo"
    ) as caught:
        remover.remove(make_photo("vase", size=(320, 240)).image, view="back")
    assert "onnxruntime ran out of memory" in caught.value.message
    assert caught.value.retryable is True
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_the_model_loads_once_however_many_threads_ask(settings, monkeypatch):
    import rembg

    calls = []
    real_new_session = rembg.new_session

    def counting_new_session(*args, **kwargs):
        calls.append(threading.get_ident())
        return real_new_session(*args, **kwargs)

    monkeypatch.setattr(rembg, "new_session", counting_new_session)
    fresh = settings.model_copy(update={"intra_op_threads": 1})  # a settings key not loaded yet
    results: list[object] = []
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        results.append(load_session(fresh))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len({id(session) for session in results}) == 1


async def test_async_api_runs_off_the_event_loop_with_bounded_workers(settings, monkeypatch):
    bounded = BackgroundRemover(settings.model_copy(update={"workers": 1}))
    loop_thread = threading.get_ident()
    seen_threads: set[int] = set()
    active = 0
    peak = 0
    lock = threading.Lock()
    real_remove = BackgroundRemover.remove

    def tracking_remove(self, image, *, view=None):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            seen_threads.add(threading.get_ident())
        try:
            return real_remove(self, image, view=view)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(BackgroundRemover, "remove", tracking_remove)
    photos = [make_photo(kind, size=(480, 360)) for kind in OBJECT_KINDS]
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(*(bounded.process_async(p.jpeg(), view="front") for p in photos))
    finally:
        ticking.cancel()
    assert len(results) == 3 and all(r.png.startswith(b"\x89PNG") for r in results)
    assert loop_thread not in seen_threads
    assert peak == 1
    assert ticks > 3  # the loop kept running while the model worked


def test_settings_come_from_bgremoval_environment(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("BGREMOVAL_MODEL_NAME", "isnet-general-use")
    monkeypatch.setenv("BGREMOVAL_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("BGREMOVAL_MAX_SIDE_PX", "1024")
    monkeypatch.setenv("BGREMOVAL_PNG_COMPRESS_LEVEL", "3")
    s = BackgroundRemovalSettings()
    assert (s.model_name, s.model_dir, s.max_side_px, s.png_compress_level) == (
        "isnet-general-use",
        tmp_path,
        1024,
        3,
    )
    assert s.alpha_matting is False
    # any model, no file: a clear error and no download
    with pytest.raises(ModelFileMissing, match="isnet-general-use"):
        BackgroundRemover(s.model_copy(update={"numba_cache_dir": settings.numba_cache_dir})).load()


def test_the_memory_arena_setting_reaches_onnxruntime(settings):
    lean = BackgroundRemover(settings.model_copy(update={"onnx_memory_arena": False}))
    photo = make_photo("vase", size=(480, 360))
    assert iou(solid(lean.remove(photo.image)), photo.mask) >= IOU_MIN["plain"]
    options = load_session(lean.settings).inner_session.get_session_options()
    assert options.enable_cpu_mem_arena is False
    assert load_session(settings).inner_session.get_session_options().enable_cpu_mem_arena is True
