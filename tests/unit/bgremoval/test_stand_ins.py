"""The stand-in for an unusable photo is its opposite's cut-out mirrored: image, mask and measurements."""

from __future__ import annotations

import io
import os
import threading

import numpy as np
from PIL import Image

from photo3d_bgremoval.cutout import Cutout, MaskQuality
from photo3d_bgremoval.remover import BackgroundRemovalSettings, CutoutResult
from photo3d_bgremoval.stand_ins import mirrored
from photo3d_common.storage import STAND_IN_FOR_TEXT


def off_centre_cutout() -> CutoutResult:
    """An object in the left part of a 100x60 photo, touching its left edge; the canvas is that part."""
    alpha = np.zeros((60, 100), dtype=np.uint8)
    alpha[10:50, 0:30] = 255
    mask = Image.fromarray(alpha, "L")
    canvas = Image.new("RGBA", (40, 40))
    canvas.paste(Image.new("RGBA", (30, 40), (200, 30, 30, 255)), (0, 0))
    quality = MaskQuality(
        width=100, height=60, coverage=0.2, bbox=(0, 10, 30, 50), touching_sides=frozenset({"left"}),
        uncertain_ratio=0.05,
    )  # fmt: skip
    cutout = Cutout(image=canvas, quality=quality, source_size=(100, 60), canvas_box=(-5, 10, 35, 50))
    return CutoutResult(cutout=cutout, mask=mask)


def test_the_stand_in_is_the_opposite_cut_out_seen_from_the_other_side() -> None:
    stand_in = mirrored(off_centre_cutout(), "front", BackgroundRemovalSettings())

    assert stand_in.quality.bbox == (70, 10, 100, 50)
    assert stand_in.quality.touching_sides == frozenset({"right"})
    assert stand_in.cutout.canvas_box == (65, 10, 105, 50)
    assert np.asarray(stand_in.mask)[30, 99] == 255 and np.asarray(stand_in.mask)[30, 0] == 0
    assert (
        stand_in.cutout.image.getpixel((39, 0))[3] == 255 and stand_in.cutout.image.getpixel((0, 0))[3] == 0
    )
    stored = Image.open(io.BytesIO(stand_in.png))
    assert stored.info[STAND_IN_FOR_TEXT] == "front"  # generation carves with it, takes no colour


def test_a_corrected_cut_out_is_stored_as_corrected_and_its_first_version_never_encoded() -> None:
    from photo3d_bgremoval.stand_ins import check_set
    from tests.support.photos import make_photo, make_views
    from tests.unit.bgremoval.test_consistency import SIZE, cutout

    views = make_views("vase", size=SIZE)
    images = {view: cutout(photo) for view, photo in views.items()}
    distractor = make_photo("box", size=SIZE, object_scale=0.5, offset=(0.2, -0.06)).mask
    images["left"] = cutout(views["left"], views["left"].mask | distractor)  # a piece of backdrop kept
    quality = MaskQuality(
        width=SIZE[0],
        height=SIZE[1],
        coverage=0.2,
        bbox=None,
        touching_sides=frozenset(),
        uncertain_ratio=0.0,
    )
    results = {
        view: CutoutResult(
            cutout=Cutout(image=image, quality=quality, source_size=SIZE), mask=image.getchannel("A")
        )
        for view, image in images.items()
    }

    checked = check_set(results, BackgroundRemovalSettings())

    assert checked.checked.corrected == {"left"}
    assert "png" not in vars(results["left"])  # the spoilt cut-out was replaced before anything encoded it
    stored = Image.open(io.BytesIO(checked.pngs["left"]))
    assert stored.getchannel("A").tobytes() == checked.checked.cutouts["left"].getchannel("A").tobytes()


def _mug_set() -> dict[str, CutoutResult]:
    from tests.support.photos import make_views
    from tests.unit.bgremoval.test_consistency import SIZE, cutout

    return {
        view: CutoutResult(
            cutout=Cutout(image=image, quality=off_centre_cutout().quality, source_size=SIZE),
            mask=image.getchannel("A"),
        )
        for view, image in ((view, cutout(photo)) for view, photo in make_views("mug", size=SIZE).items())
    }


def test_a_sets_pngs_are_encoded_at_once_each_under_its_own_view(monkeypatch) -> None:
    from photo3d_bgremoval import remover, stand_ins

    results = _mug_set()
    all_four_at_once = threading.Barrier(len(results), timeout=10)
    threads: set[str] = set()
    encode = stand_ins.encode_png

    def encode_png(image: Image.Image, **options) -> bytes:
        threads.add(threading.current_thread().name)
        all_four_at_once.wait()  # broken (an error) unless the four encodings run at the same time
        return encode(image, **options)

    monkeypatch.setattr(stand_ins, "encode_png", encode_png)
    monkeypatch.setattr(remover, "encode_png", encode_png)

    pngs = stand_ins.check_set(results, BackgroundRemovalSettings(png_threads=4)).pngs

    assert len(threads) == len(results)
    for view, result in results.items():  # no PNG landed under another view's key
        assert Image.open(io.BytesIO(pngs[view])).tobytes() == result.cutout.image.tobytes(), view


def test_png_threads_default_to_the_cores_this_process_may_use() -> None:
    assert BackgroundRemovalSettings(png_threads=3).encoding_threads() == 3
    assert BackgroundRemovalSettings().encoding_threads() == len(os.sched_getaffinity(0))
