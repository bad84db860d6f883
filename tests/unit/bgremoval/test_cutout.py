"""Cut-out post-processing without the model: crop, pad, centre, cap, quality checks, decoding, PNG."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from photo3d_bgremoval.cutout import (
    InvalidPhoto,
    NoSubjectFound,
    alpha_bbox,
    assess_mask,
    canvas_box,
    cap_size,
    check_subject,
    crop_and_pad,
    decode_photo,
    encode_png,
    focal_pixels,
    make_cutout,
    with_focal,
)
from photo3d_common.storage import FOCAL_PIXELS_TEXT
from tests.support.photos import make_photo, make_views


def rgba_with_rect(size=(400, 300), rect=(50, 60, 150, 240), alpha=255, colour=(200, 40, 30)) -> Image.Image:
    """Transparent image with one opaque rectangle (left, top, right, bottom exclusive)."""
    array = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    left, top, right, bottom = rect
    array[top:bottom, left:right] = (*colour, alpha)
    return Image.fromarray(array, mode="RGBA")


def alpha(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A"))


def test_crop_and_pad_centres_the_object_in_a_square_with_the_margin():
    source = rgba_with_rect(rect=(50, 60, 150, 240))  # 100 x 180
    out = crop_and_pad(source, (50, 60, 150, 240), margin_fraction=0.1, square=True, max_side=4096)

    margin = round(0.1 * 180)
    assert out.size == (180 + 2 * margin, 180 + 2 * margin)
    left, top, right, bottom = alpha_bbox(alpha(out))
    assert (right - left, bottom - top) == (100, 180)
    # centred to half a pixel on both axes
    assert abs((left + right) / 2 - out.width / 2) <= 0.5
    assert abs((top + bottom) / 2 - out.height / 2) <= 0.5
    assert top == margin and out.height - bottom == margin
    # the object's pixels are copied, not resampled
    assert np.array_equal(np.asarray(out)[top:bottom, left:right], np.asarray(source)[60:240, 50:150])


def test_crop_and_pad_without_square_keeps_the_object_aspect():
    source = rgba_with_rect(rect=(50, 60, 150, 240))
    out = crop_and_pad(source, (50, 60, 150, 240), margin_fraction=0.1, square=False, max_side=4096)
    assert out.size == (100 + 36, 180 + 36)


def test_margin_beyond_the_frame_is_transparent_and_soft_edges_inside_it_are_kept():
    source = rgba_with_rect(size=(200, 200), rect=(0, 20, 100, 180))  # touches the left edge
    array = np.asarray(source).copy()
    array[20:180, 100:103, 3] = 60  # a soft edge just outside the solid box
    source = Image.fromarray(array, mode="RGBA")

    out = crop_and_pad(source, (0, 20, 100, 180), margin_fraction=0.1, square=True, max_side=4096)
    a = alpha(out)
    margin = 16
    assert out.size == (160 + 2 * margin, 160 + 2 * margin)
    x0 = (out.width - 100) // 2
    assert not a[:, :x0].any()  # left of the frame: nothing
    assert (a[margin:-margin, x0 + 100 : x0 + 103] == 60).all()  # soft edge survived


def test_crop_and_pad_caps_the_longer_side():
    source = rgba_with_rect(size=(3000, 2000), rect=(100, 100, 2900, 1900))
    out = crop_and_pad(source, (100, 100, 2900, 1900), margin_fraction=0.05, square=True, max_side=1024)
    assert out.size == (1024, 1024)


def test_a_recorded_focal_length_follows_every_crop_and_cap_into_the_png():
    """In pixels of the image it is recorded on: a crop keeps it, a cap scales it, the PNG carries it."""
    source = with_focal(rgba_with_rect(size=(3000, 2000), rect=(100, 100, 2900, 1900)), 2400.0)
    capped = cap_size(source, 1500)
    assert focal_pixels(capped) == pytest.approx(1200.0)
    assert focal_pixels(source) == pytest.approx(2400.0)  # the original keeps its own
    box = (100, 100, 2900, 1900)
    out = crop_and_pad(source, box, margin_fraction=0.05, square=True, max_side=1024)
    left, _, right, _ = canvas_box(box, source.size, margin_fraction=0.05, square=True)
    assert focal_pixels(out) == pytest.approx(2400.0 * 1024 / (right - left), rel=1e-3)
    stored = Image.open(io.BytesIO(encode_png(out, text={"photo3d:other": "kept"})))
    assert float(stored.info[FOCAL_PIXELS_TEXT]) == pytest.approx(focal_pixels(out), abs=0.01)
    assert stored.info["photo3d:other"] == "kept"
    assert FOCAL_PIXELS_TEXT not in Image.open(io.BytesIO(encode_png(rgba_with_rect()))).info


def test_crop_and_pad_rejects_a_box_outside_the_image():
    with pytest.raises(ValueError, match="is outside the"):
        crop_and_pad(rgba_with_rect(), (0, 0, 500, 10))


def test_cap_size_scales_down_only():
    assert cap_size(Image.new("RGB", (4000, 3000)), 2048).size == (2048, 1536)
    small = Image.new("RGB", (640, 480))
    assert cap_size(small, 2048) is small


def test_assess_mask_reports_coverage_bbox_and_touched_sides():
    q = assess_mask(alpha(rgba_with_rect(size=(400, 300), rect=(50, 60, 150, 240))))
    assert q.coverage == pytest.approx(100 * 180 / (400 * 300))
    assert q.bbox == (50, 60, 150, 240)
    assert q.touching_sides == frozenset()
    assert q.uncertain_ratio == 0.0

    q = assess_mask(alpha(rgba_with_rect(size=(400, 300), rect=(0, 100, 200, 300))))
    assert q.touching_sides == {"left", "bottom"}


def test_a_stray_pixel_on_the_frame_does_not_count_as_touching():
    a = alpha(rgba_with_rect(size=(400, 300), rect=(50, 60, 150, 240))).copy()
    a[0, 5] = 255
    assert assess_mask(a).touching_sides == frozenset()


def test_empty_mask_is_no_subject_and_names_the_view():
    q = assess_mask(np.zeros((300, 400), dtype=np.uint8))
    with pytest.raises(NoSubjectFound, match="no object found in the left photo") as caught:
        check_subject(q, view="left")
    assert caught.value.code == "no_subject_found"
    assert caught.value.detail["view"] == "left"


def test_near_empty_mask_is_no_subject():
    q = assess_mask(alpha(rgba_with_rect(size=(400, 300), rect=(200, 150, 205, 155))))
    assert 0 < q.coverage < 0.005
    with pytest.raises(NoSubjectFound, match="the back photo"):
        check_subject(q, view="back", min_coverage=0.005)


def test_mask_touching_three_sides_means_the_object_was_not_separated():
    q = assess_mask(alpha(rgba_with_rect(size=(400, 300), rect=(0, 0, 400, 200))))
    assert q.touching_sides == {"left", "right", "top"}
    with pytest.raises(NoSubjectFound, match="front photo could not be separated"):
        check_subject(q, view="front")


def test_mask_touching_two_sides_is_accepted():
    q = assess_mask(alpha(rgba_with_rect(size=(400, 300), rect=(0, 100, 200, 300))))
    check_subject(q, view="front")  # must not raise


def test_a_diffuse_half_transparent_blob_is_no_subject():
    q = assess_mask(alpha(rgba_with_rect(size=(400, 300), rect=(100, 50, 300, 250), alpha=120)))
    assert q.coverage == 0.0
    a = alpha(rgba_with_rect(size=(400, 300), rect=(100, 50, 300, 250), alpha=100)).copy()
    a[60:80, 110:130] = 255  # a small confident patch in a large undecided haze
    q = assess_mask(a)
    assert q.uncertain_ratio > 1.0
    with pytest.raises(NoSubjectFound, match="right photo"):
        check_subject(q, view="right")


def test_make_cutout_clears_haze_and_centres():
    array = np.asarray(rgba_with_rect(size=(400, 300), rect=(300, 100, 380, 200))).copy()
    array[..., 3] = np.where(array[..., 3] == 0, 5, array[..., 3])  # faint veil everywhere else
    cutout = make_cutout(Image.fromarray(array, mode="RGBA"), view="left", margin_fraction=0.1)
    a = alpha(cutout.image)
    assert set(np.unique(a)) <= {0, 255}
    assert cutout.quality.bbox == (300, 100, 380, 200)
    assert cutout.source_size == (400, 300)
    left, top, right, bottom = alpha_bbox(a)
    assert abs((left + right) / 2 - cutout.image.width / 2) <= 0.5
    assert abs((top + bottom) / 2 - cutout.image.height / 2) <= 0.5


def test_make_cutout_keeps_real_alpha_and_colour_and_blanks_colour_under_transparency():
    array = np.asarray(rgba_with_rect(size=(400, 300), rect=(100, 100, 200, 200))).copy()
    array[100:200, 200:203] = (10, 200, 90, 200)  # a soft edge right of the object
    array[100:200, 203:205] = (10, 200, 90, 40)  # and its fainter outside
    array[50:60, 50:60] = (90, 90, 250, 0)  # background colour under full transparency
    source = Image.fromarray(array, mode="RGBA")
    cutout = make_cutout(source, margin_fraction=0.5, square=False)
    x0, y0, _, _ = cutout.canvas_box
    out = np.asarray(cutout.image)
    assert (out[100 - y0 : 200 - y0, 100 - x0 : 200 - x0] == (200, 40, 30, 255)).all()
    assert (out[100 - y0 : 200 - y0, 200 - x0 : 203 - x0] == (10, 200, 90, 200)).all()
    assert (out[100 - y0 : 200 - y0, 203 - x0 : 205 - x0] == (10, 200, 90, 40)).all()
    assert not out[..., :3][out[..., 3] == 0].any()  # nothing but black under alpha 0


def test_canvas_box_centres_the_object_and_may_reach_beyond_the_frame():
    assert canvas_box((0, 20, 100, 180), (200, 200), margin_fraction=0.1, square=True) == (-46, 4, 146, 196)
    assert canvas_box((50, 60, 150, 240), (400, 300), margin_fraction=0.0, square=False) == (50, 60, 150, 240)
    with pytest.raises(ValueError, match="is outside the"):
        canvas_box((0, 0, 500, 10), (400, 300), margin_fraction=0.1, square=True)


def test_decode_photo_applies_exif_orientation():
    image = Image.new("RGB", (60, 40), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 10, 40))  # blue strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, quality=95)
    decoded = decode_photo(buffer.getvalue())
    assert decoded.size == (40, 60)
    assert decoded.mode == "RGB"
    top_row = np.asarray(decoded)[2, 20]
    assert top_row[2] > 150 and top_row[0] < 100  # the blue strip is now at the top


@pytest.mark.parametrize("size", [(4096, 3072), (2500, 1875), (1000, 750)])
def test_decode_photo_decodes_at_the_capped_size(size):
    photo = make_photo("box", size=(400, 300), seed=2).image.resize(size)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=92)
    decoded = decode_photo(buffer.getvalue(), max_side=1024)
    expected = cap_size(photo, 1024)
    assert decoded.size == expected.size and decoded.mode == "RGB"
    # the scaled JPEG decode is a proper downscale: close to Lanczos from the full image
    difference = np.abs(np.asarray(decoded, dtype=np.int16) - np.asarray(expected, dtype=np.int16))
    assert difference.mean() < 3


def test_decode_photo_flattens_transparency_onto_white():
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    decoded = decode_photo(buffer.getvalue())
    assert decoded.mode == "RGB"
    assert tuple(np.asarray(decoded)[5, 5]) == (255, 255, 255)


def test_decode_photo_scales_16_bit_greyscale():
    image = Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    decoded = decode_photo(buffer.getvalue())
    assert decoded.mode == "RGB" and tuple(np.asarray(decoded)[0, 0]) == (156, 156, 156)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30])
def test_undecodable_photo_is_a_clear_error(data):
    with pytest.raises(InvalidPhoto, match="the right photo could not be read as an image") as caught:
        decode_photo(data, view="right")
    assert caught.value.code == "invalid_photo"


def test_encode_png_round_trips_rgba():
    image = rgba_with_rect(alpha=77)
    data = encode_png(image, compress_level=1)
    assert data.startswith(b"\x89PNG")
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == "RGBA"
    assert np.array_equal(np.asarray(decoded), np.asarray(image))


def test_synthetic_photos_are_deterministic_and_their_masks_fit_the_object():
    first = make_photo("box", background="busy", size=(320, 240), seed=4)
    again = make_photo("box", background="busy", size=(320, 240), seed=4)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert np.array_equal(first.mask, again.mask)
    assert first.image.size == (320, 240) and first.mask.shape == (240, 320)
    assert 0.05 < first.mask.mean() < 0.5
    views = make_views("mug", size=(320, 240))
    assert list(views) == ["front", "left", "right", "back"]
    assert np.array_equal(views["back"].mask[:, ::-1], make_photo("mug", size=(320, 240), seed=3).mask)
