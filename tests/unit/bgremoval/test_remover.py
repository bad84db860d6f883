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
import collections
import functools
import io
import math
import os
import shutil
import threading

import numpy as np
import onnxruntime
import pytest
from PIL import ExifTags, Image
from rembg.sessions.u2netp import U2netpSession

from photo3d_bgremoval.backdrop import backdrop_texture
from photo3d_bgremoval.cutout import NoSubjectFound, alpha_bbox
from photo3d_bgremoval.remover import (
    BackgroundRemovalFailed,
    BackgroundRemovalSettings,
    BackgroundRemover,
    ModelFileMissing,
    ModelLoadFailed,
    UnclearCutout,
    UnsupportedModel,
)
from photo3d_common.storage import FOCAL_PIXELS_TEXT
from tests.support.photos import OBJECT_KINDS, blank_photo, iou, make_photo

IOU_MIN = {"plain": 0.97, "busy": 0.90}


def solid(mask: Image.Image) -> np.ndarray:
    return np.asarray(mask) > 127


def cut_out(remover: BackgroundRemover, photo, *, view: str | None = None):
    return asyncio.run(remover.remove(photo, view=view))


@pytest.fixture
def created_sessions(monkeypatch):
    """Every onnxruntime session created meanwhile, as (model file, session options)."""
    created: list[tuple[str, onnxruntime.SessionOptions]] = []
    real = onnxruntime.InferenceSession

    def recording(path, sess_options=None, *args, **kwargs):
        created.append((str(path), sess_options))
        return real(path, sess_options, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", recording)
    return created


@pytest.mark.parametrize("background", ["plain", "busy"])
@pytest.mark.parametrize("kind", OBJECT_KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_mask_matches_the_true_object(remover, kind, background, seed):
    photo = make_photo(kind, background=background, size=(640, 480), seed=seed)
    result = cut_out(remover, photo.png(), view="front")  # lossless: the pixels the thresholds were set on
    assert result.mask.mode == "L" and result.mask.size == photo.image.size
    assert iou(solid(result.mask), photo.mask) >= IOU_MIN[background]


def test_the_shadow_and_the_handle_hole_stay_background(remover):
    photo = make_photo("mug", background="plain", size=(640, 480), seed=2)
    predicted = solid(cut_out(remover, photo.image).mask)
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
    result = cut_out(remover, photo.jpeg(), view="left")
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
    for source in (photo.image, photo.jpeg()):
        result = cut_out(capped, source, view="front")
        assert result.source_size == result.mask.size == (1024, 683)
        assert max(result.width, result.height) <= 1024


def _with_35mm_focal(jpeg: bytes, focal_mm: int) -> bytes:
    image = Image.open(io.BytesIO(jpeg))
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.FocalLengthIn35mmFilm] = focal_mm
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def test_a_photos_exif_focal_length_is_stored_in_its_cut_outs_pixels(settings):
    """A phone's 35 mm equivalent focal length: 26 mm on a 43.3 mm film diagonal, so 0.6 of the photo's
    diagonal in pixels, then scaled as the photo is capped and its canvas is; a photo without one has none."""
    capped = BackgroundRemover(settings.model_copy(update={"max_side_px": 1024}))
    photo = make_photo("box", background="plain", size=(1500, 1000), seed=1)
    result = cut_out(capped, _with_35mm_focal(photo.jpeg(), 26), view="front")
    focal_in_photo = 26 / math.hypot(36, 24) * math.hypot(1024, 683)
    left, _, right, _ = result.cutout.canvas_box
    expected = focal_in_photo * result.width / (right - left)
    stored = Image.open(io.BytesIO(result.png))
    assert float(stored.info[FOCAL_PIXELS_TEXT]) == pytest.approx(expected, rel=0.002)

    plain = Image.open(io.BytesIO(cut_out(capped, photo.jpeg(), view="front").png))
    assert FOCAL_PIXELS_TEXT not in plain.info


@pytest.mark.parametrize("colour", [(236, 236, 232), (30, 30, 30), (128, 128, 128), (200, 60, 40)])
def test_an_empty_photo_is_no_subject_found(remover, colour):
    with pytest.raises(NoSubjectFound, match="the left photo") as caught:
        cut_out(remover, blank_photo((640, 480), colour=colour), view="left")
    assert caught.value.retryable is False
    # the refusal keeps what the model saw, for the set's other photos to rebuild it (refine.py)
    refusal = caught.value
    assert isinstance(refusal, UnclearCutout) and refusal.code == "no_subject_found"
    assert refusal.photo.size == refusal.mask.size == (640, 480) and refusal.mask.mode == "L"


def test_a_missing_model_file_is_a_clear_error_and_nothing_is_downloaded(settings, tmp_path):
    missing = BackgroundRemover(settings.model_copy(update={"model_dir": tmp_path}))
    with pytest.raises(ModelFileMissing, match=r"u2netp\.onnx") as caught:
        cut_out(missing, make_photo("vase", size=(320, 240)).image)
    assert str(tmp_path) in caught.value.message
    assert "model_files install" in caught.value.message
    assert list(tmp_path.rglob("*")) == []  # no partial download was started


def test_another_model_name_loads_its_own_file_from_the_directory(
    settings, model_dir, tmp_path, created_sessions
):
    # silueta is a u2net-architecture model with u2netp's input and output: u2netp's weights stand in
    shutil.copy(model_dir / "u2netp.onnx", tmp_path / "silueta.onnx")
    other = BackgroundRemover(settings.model_copy(update={"model_dir": tmp_path, "model_name": "silueta"}))
    photo = make_photo("box", size=(640, 480))
    assert iou(solid(cut_out(other, photo.image).mask), photo.mask) >= IOU_MIN["plain"]
    assert [path for path, _ in created_sessions] == [str(tmp_path / "silueta.onnx")]


def test_the_model_location_does_not_depend_on_the_working_directory(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("BGREMOVAL_MODEL_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    default = BackgroundRemovalSettings()
    assert default.model_dir.is_absolute() and default.numba_cache_dir.is_absolute()
    assert default.model_dir == settings.model_dir  # the checkout's var/models/u2net, from anywhere
    relative = BackgroundRemovalSettings(model_dir="models")
    monkeypatch.chdir(tmp_path.parent)
    assert relative.model_dir == tmp_path / "models"  # fixed when the settings were read


def test_loading_touches_neither_the_environment_nor_rembg(settings, monkeypatch):
    import pooch

    monkeypatch.delenv("U2NET_HOME", raising=False)
    before = dict(os.environ)
    retrieve = pooch.retrieve
    fresh = BackgroundRemover(settings.model_copy(update={"intra_op_threads": 1}))
    fresh.load()
    assert dict(os.environ) == before
    assert pooch.retrieve is retrieve
    assert U2netpSession.download_models.__qualname__ == "U2netpSession.download_models"  # left as it is


def test_an_unknown_model_name_is_rejected(settings):
    with pytest.raises(UnsupportedModel, match="u2netp"):
        BackgroundRemover(settings.model_copy(update={"model_name": "no-such-model"})).load()


def test_a_corrupt_model_file_is_a_load_error(settings, tmp_path):
    (tmp_path / "u2netp.onnx").write_bytes(b"this is not an onnx model")
    with pytest.raises(ModelLoadFailed, match="could not be loaded"):
        BackgroundRemover(settings.model_copy(update={"model_dir": tmp_path})).load()


def test_an_exception_inside_rembg_surfaces_as_a_clear_error(remover, monkeypatch):
    def broken_predict(*args, **kwargs):
        raise RuntimeError("onnxruntime ran out of memory")

    monkeypatch.setattr(U2netpSession, "predict", broken_predict)
    with pytest.raises(
        BackgroundRemovalFailed, match="background removal failed on the back photo"
    ) as caught:
        cut_out(remover, make_photo("vase", size=(320, 240)).image, view="back")
    assert "onnxruntime ran out of memory" in caught.value.message
    assert caught.value.retryable is True
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_the_model_loads_once_however_many_threads_ask(settings, created_sessions):
    fresh = BackgroundRemover(settings.model_copy(update={"intra_op_threads": 1}))
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        fresh.load()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(created_sessions) == 1
    fresh.load()
    assert len(created_sessions) == 1


async def test_remove_runs_off_the_event_loop_with_bounded_workers(settings, monkeypatch):
    bounded = BackgroundRemover(settings.model_copy(update={"workers": 1}))
    loop_thread = threading.get_ident()
    seen_threads: set[int] = set()
    active = 0
    peak = 0
    lock = threading.Lock()
    real_predict = U2netpSession.predict

    def tracking_predict(self, image, *args, **kwargs):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            seen_threads.add(threading.get_ident())
        try:
            return real_predict(self, image, *args, **kwargs)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(U2netpSession, "predict", tracking_predict)
    photos = [make_photo(kind, size=(480, 360)) for kind in OBJECT_KINDS]
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(*(bounded.remove(p.jpeg(), view="front") for p in photos))
    finally:
        ticking.cancel()
    assert len(results) == 3 and all(r.png.startswith(b"\x89PNG") for r in results)
    assert loop_thread not in seen_threads
    assert peak == 1
    assert ticks > 3  # the loop kept running while the model worked


async def test_only_the_mask_takes_a_slot_the_rest_runs_beside_another_photos_mask(settings, monkeypatch):
    """With one slot, the second photo is decoded while the first mask waits, and the first cut-out is
    framed and encoded while the second photo's mask is computed: the single-threaded steps use the core
    onnxruntime leaves idle. Each wait gives up after 10 s, so steps run in turn fail the test."""
    from photo3d_bgremoval import remover as remover_module

    one_slot = BackgroundRemover(settings.model_copy(update={"workers": 1}))
    second_decode_started, second_mask_started = threading.Event(), threading.Event()
    calls: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def step(name, real, *, signals=None, first_waits_for=None, why=""):
        """``real``, counted; its n-th call sets ``signals[n]``, and its first waits for ``first_waits_for``."""

        def run(*args, **kwargs):
            with lock:
                calls[name] += 1
                nth = calls[name]
            if nth in (signals or {}):
                signals[nth].set()
            if nth == 1 and first_waits_for is not None:
                assert first_waits_for.wait(10), why
            return real(*args, **kwargs)

        return run

    monkeypatch.setattr(
        remover_module,
        "decode_photo",
        step("decode", remover_module.decode_photo, signals={2: second_decode_started}),
    )
    monkeypatch.setattr(
        U2netpSession,
        "predict",
        step(
            "mask",
            U2netpSession.predict,
            signals={2: second_mask_started},
            first_waits_for=second_decode_started,
            why="the other photo was not decoded while the model worked",
        ),
    )
    monkeypatch.setattr(
        remover_module,
        "encode_png",
        step(
            "png",
            remover_module.encode_png,
            first_waits_for=second_mask_started,
            why="the first cut-out held the slot while it was encoded",
        ),
    )
    photos = [make_photo(kind, size=(480, 360)).jpeg() for kind in OBJECT_KINDS[:2]]

    results = await asyncio.gather(*(one_slot.remove(photo, view="front") for photo in photos))

    assert calls == {"decode": 2, "mask": 2, "png": 2}
    assert all(result.encode_png() == result.png for result in results)  # encoded once, kept


def test_the_models_input_is_rembgs_within_a_few_levels_and_its_mask_the_same(remover):
    """The session reduces a large photo by whole pixels before rembg's LANCZOS resize (Pillow's
    reducing_gap): the model's input differs from rembg's own by a few of 255 levels at most (measured:
    up to 6, 0.2-1.6 on average) and the mask is the same (IoU 0.9994 or more on the generated photos)."""
    from rembg.sessions.base import BaseSession

    photo = make_photo("mug", background="busy", size=(2048, 1536), seed=3)
    remover.load()
    session = remover._session
    mean, std, size = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), (320, 320)

    ours = next(iter(session.normalize(photo.image, mean, std, size).values()))
    rembgs = next(iter(BaseSession.normalize(session, photo.image, mean, std, size).values()))
    mask = solid(session.predict(photo.image)[0])
    session.normalize = functools.partial(BaseSession.normalize, session)  # rembg's own, for this session
    try:
        rembgs_mask = solid(session.predict(photo.image)[0])
    finally:
        del session.normalize

    assert ours.shape == rembgs.shape == (1, 3, 320, 320)
    levels = np.abs(ours - rembgs) * np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1) * 255
    assert levels.max() <= 8 and levels.mean() <= 2
    assert iou(mask, rembgs_mask) >= 0.995
    assert iou(mask, photo.mask) >= IOU_MIN["busy"]


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


def test_the_session_settings_reach_onnxruntime(settings, created_sessions):
    lean = BackgroundRemover(settings.model_copy(update={"onnx_memory_arena": False, "intra_op_threads": 1}))
    photo = make_photo("vase", size=(480, 360))
    assert iou(solid(cut_out(lean, photo.image).mask), photo.mask) >= IOU_MIN["plain"]
    spinning = BackgroundRemover(settings.model_copy(update={"onnx_spinning": True, "intra_op_threads": 2}))
    spinning.load()
    (_, lean_options), (_, spinning_options) = created_sessions
    assert lean_options.enable_cpu_mem_arena is False and lean_options.intra_op_num_threads == 1
    assert lean_options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert spinning_options.enable_cpu_mem_arena is True and spinning_options.intra_op_num_threads == 2
    assert spinning_options.get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_by_default_each_core_computes_a_mask_on_one_thread(settings, created_sessions, monkeypatch):
    # a set's four photos two at a time on 2 cores, one onnxruntime thread each, beat one at a time on
    # both threads (bench/bgremoval/service_path.py)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    default = BackgroundRemover(settings.model_copy(update={"workers": 0, "intra_op_threads": 0}))
    one_at_a_time = BackgroundRemover(settings.model_copy(update={"workers": 1, "intra_op_threads": 0}))
    default.load()
    one_at_a_time.load()
    (_, default_options), (_, one_at_a_time_options) = created_sessions
    assert default._slots.total_tokens == 4 and default_options.intra_op_num_threads == 1
    # all cores on the one mask: never more threads than cores
    assert one_at_a_time._slots.total_tokens == 1 and one_at_a_time_options.intra_op_num_threads == 4


def test_the_backdrop_is_measured_as_the_cut_out_is_framed(remover):
    photo = make_photo("vase", background="busy", size=(480, 360))
    result = cut_out(remover, photo.jpeg())
    assert result.working is not None
    assert "texture" in vars(result.working)  # measured already, beside the other photos' masks
    assert result.working.texture == pytest.approx(backdrop_texture(result.photo, result.mask))
    assert result.working.texture > BackgroundRemovalSettings().busy_backdrop_texture


async def test_the_warm_up_computes_a_first_mask_on_every_slot_at_once(settings, monkeypatch):
    # onnxruntime sizes its memory arena for the masks that run at once: each slot runs one at start
    remover = BackgroundRemover(settings.model_copy(update={"workers": 2}))
    remover.load()
    together = threading.Barrier(2, timeout=30)  # one at a time: the first never gets past it
    real_predict = remover._session.predict
    sizes: list[tuple[int, int]] = []

    def predict(image, *args, **kwargs):
        sizes.append(image.size)
        together.wait()
        return real_predict(image, *args, **kwargs)

    monkeypatch.setattr(remover._session, "predict", predict)
    await remover.warm_up()
    assert len(sizes) == 2 and max(max(size) for size in sizes) <= 64  # a small photo, not a real one's cost
