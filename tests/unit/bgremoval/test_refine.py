"""The refinement of busy-backdrop masks with the plain views' colours, on generated photos (no model).

One object (red top, blue stripes below) is photographed on a plain sweep (front, left, right) and on a
busy backdrop of green, yellow and grey blocks (back). The back's mask is what u2netp makes of such a
photo: the object, a block of backdrop beside it kept as confidently, and a diffuse haze around both.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from photo3d_bgremoval.backdrop import WorkingView, backdrop_texture
from photo3d_bgremoval.consistency import CutoutsDisagree, check_cutouts
from photo3d_bgremoval.cutout import NoSubjectFound, alpha_bbox, crop_and_pad, cut_out_with_mask
from photo3d_bgremoval.refine import plain_views, refine_busy_views, refine_masks
from photo3d_bgremoval.remover import BackgroundRemovalSettings, CutoutResult, UnclearCutout
from photo3d_bgremoval.stand_ins import check_set
from tests.support.photos import iou

HEIGHT, WIDTH = 240, 320
VIEWS = ("front", "left", "right", "back")
#: the settings' default
BUSY_TEXTURE = BackgroundRemovalSettings().busy_backdrop_texture


def object_mask() -> np.ndarray:
    ys, xs = np.mgrid[:HEIGHT, :WIDTH]
    return ((xs - 160) / 50) ** 2 + ((ys - 125) / 85) ** 2 <= 1


def object_colours(rng: np.random.Generator) -> np.ndarray:
    ys, _ = np.mgrid[:HEIGHT, :WIDTH]
    red, blue = np.array([200, 40, 35]), np.array([35, 60, 190])
    stripes = (ys > 125) & ((ys // 8) % 2 == 0)
    colours = np.where(stripes[..., None], blue, red).astype(np.float64)
    return colours + rng.normal(0, 4, colours.shape)


def plain_backdrop(rng: np.random.Generator) -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), 235.0) + rng.normal(0, 2, (HEIGHT, WIDTH, 1))


def busy_backdrop(rng: np.random.Generator) -> np.ndarray:
    """Blocks of 40 px in greens, yellows and greys (none the object's colours), noisy."""
    palette = np.array([[60, 150, 60], [200, 190, 60], [120, 120, 120], [90, 110, 40], [170, 200, 150]])
    blocks = palette[rng.integers(len(palette), size=(HEIGHT // 40 + 1, WIDTH // 40 + 1))]
    backdrop = np.kron(blocks, np.ones((40, 40, 1)))[:HEIGHT, :WIDTH].astype(np.float64)
    return backdrop + rng.normal(0, 6, backdrop.shape)


def photo(backdrop: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pixels = np.where(mask[..., None], object_colours(rng), backdrop)
    return np.clip(pixels, 0, 255).astype(np.uint8)


#: the part of the object u2netp misses in the busy photo (rows of its striped bottom)
MISSED = np.s_[175:195, :]


def diffuse_mask(mask: np.ndarray) -> np.ndarray:
    """u2netp on a busy backdrop: a kept block of backdrop beside the object (alpha 255), a band of the
    object missed, and a half-transparent haze around what it kept."""
    kept = mask.copy()
    kept[60:140, 200:260] = True  # a block of backdrop touching the object's right side
    kept[MISSED] = False
    haze = ndimage.gaussian_filter(kept.astype(np.float64), 6) * 255
    return np.maximum(haze * 0.8, kept * 255).clip(0, 255).astype(np.uint8)


@pytest.fixture
def views() -> tuple[dict[str, Image.Image], dict[str, Image.Image], np.ndarray]:
    """(photos, model masks, true mask): three plain views with exact masks, the back on a busy one."""
    rng = np.random.default_rng(8)
    truth = object_mask()
    photos = {view: photo(plain_backdrop(rng), truth, rng) for view in VIEWS[:3]}
    photos["back"] = photo(busy_backdrop(rng), truth, rng)
    masks = {view: truth.astype(np.uint8) * 255 for view in VIEWS[:3]}
    masks["back"] = diffuse_mask(truth)
    return (
        {view: Image.fromarray(pixels) for view, pixels in photos.items()},
        {view: Image.fromarray(alpha, mode="L") for view, alpha in masks.items()},
        truth,
    )


def results(photos, masks) -> dict:
    settings = BackgroundRemovalSettings()
    out = {}
    for view in photos:
        cutout = cut_out_with_mask(photos[view], masks[view], view=view, **settings.cutout_options())
        out[view] = CutoutResult(cutout=cutout, mask=masks[view], photo=photos[view])
    return out


def test_the_backdrop_measure_tells_a_studio_sweep_from_a_busy_backdrop(views):
    photos, masks, _ = views
    assert backdrop_texture(photos["front"], masks["front"]) < BUSY_TEXTURE / 2  # sensor noise: not busy
    assert backdrop_texture(photos["back"], masks["back"]) > 2 * BUSY_TEXTURE
    assert plain_views(photos, masks, busy_texture=BUSY_TEXTURE) == {"front", "left", "right"}


def test_busy_backdrop_kept_is_cleared_and_object_missed_is_added_with_the_plain_views_colours(views):
    photos, masks, truth = views
    model = np.asarray(masks["back"])
    before = iou(model > 127, truth)
    assert before < 0.8  # the kept block, the missed band and the haze

    refined = refine_masks(photos, masks, frozenset(VIEWS[:3]))

    assert set(refined) == {"back"}
    back = np.asarray(refined["back"]) > 127
    assert iou(back, truth) > 0.95 and iou(back, truth) > before + 0.15
    assert back[MISSED][truth[MISSED]].mean() > 0.9  # the missed band is the object's again
    assert not back[60:140, 215:260].any()  # the block of backdrop is gone
    # the far backdrop is never added, whatever its colour
    far = ndimage.distance_transform_edt(model <= 8) > 20
    assert not back[far].any()


def test_a_set_without_a_busy_or_without_a_plain_photo_is_left_alone(views):
    photos, masks, _ = views
    assert refine_masks(photos, masks, frozenset(VIEWS)) == {}
    assert refine_masks(photos, masks, frozenset()) == {}


def test_only_the_busy_cutout_is_made_again(views):
    photos, masks, truth = views
    before = results(photos, masks)

    refined = refine_busy_views(before, BackgroundRemovalSettings())

    assert refined.plain == {"front", "left", "right"}
    assert all(refined.results[view] is before[view] for view in VIEWS[:3])
    back = refined.results["back"]
    assert isinstance(back, CutoutResult) and back is not before["back"]
    assert iou(np.asarray(back.mask) > 127, truth) > 0.95
    stored = Image.open(io.BytesIO(back.png))  # the refined cut-out is what gets stored
    assert stored.getchannel("A").tobytes() == back.cutout.image.getchannel("A").tobytes()
    assert "png" not in vars(before["back"])  # the replaced cut-out was never encoded
    # framed around the object alone again (centred at x = 160), no longer around object and block
    left, _, right, _ = back.cutout.canvas_box
    assert abs((left + right) / 2 - 160) < 3 < abs(sum(before["back"].cutout.canvas_box[::2]) / 2 - 160)


def test_the_backdrop_measures_the_remover_took_decide_which_photos_teach_and_none_is_taken_again(
    views, monkeypatch
):
    photos, masks, _ = views
    before = results(photos, masks)
    # what the remover measured as it framed each cut-out: here it says the right photo was on a busy
    # backdrop and the back on a plain one (the opposite of what their pixels would give)
    measured = {view: WorkingView.of(photos[view], masks[view]) for view in VIEWS}
    for view in VIEWS:
        measured[view].__dict__["texture"] = 10 * BUSY_TEXTURE if view == "right" else 0.0
    before = {view: dataclasses.replace(before[view], working=measured[view]) for view in VIEWS}

    def measured_again(*_args):
        raise AssertionError("the backdrop was measured again")

    monkeypatch.setattr(WorkingView, "of", measured_again)
    refined = refine_busy_views(before, BackgroundRemovalSettings())

    assert refined.plain == {"front", "left", "back"}
    assert refined.results["right"] is not before["right"]  # the "busy" one is made again
    assert refined.results["back"] is before["back"]


def test_a_clean_studio_set_is_returned_unchanged():
    rng = np.random.default_rng(3)
    truth = object_mask()
    photos = {view: Image.fromarray(photo(plain_backdrop(rng), truth, rng)) for view in VIEWS}
    before = results(photos, {view: Image.fromarray(truth.astype(np.uint8) * 255) for view in VIEWS})

    refined = refine_busy_views(before, BackgroundRemovalSettings())

    assert refined.plain == set(VIEWS)
    assert all(refined.results[view] is before[view] for view in VIEWS)


def test_the_refinement_can_be_switched_off(views):
    before = results(*views[:2])
    refined = refine_busy_views(before, BackgroundRemovalSettings(cross_view_refinement=False))
    assert refined.plain == frozenset()
    assert all(refined.results[view] is before[view] for view in VIEWS)


def cutout(mask: np.ndarray) -> Image.Image:
    rgba = Image.new("RGBA", (mask.shape[1], mask.shape[0]), (200, 40, 35, 0))
    rgba.putalpha(Image.fromarray(mask.astype(np.uint8) * 255))
    return crop_and_pad(rgba, alpha_bbox(np.asarray(rgba.getchannel("A"))))


def test_a_trusted_plain_view_is_not_trimmed_where_its_busy_opposite_disagrees():
    """The front shows a lump the back lacks (its own shape seen from above, say): the check would trim
    the front, unless the front is a trusted plain-backdrop view and the back a busy one."""
    body = object_mask()
    lump = np.zeros_like(body)
    lump[20:70, 190:250] = True
    masks = {"front": body | lump, "back": body[:, ::-1], "left": body, "right": body[:, ::-1]}
    cutouts = {view: cutout(mask) for view, mask in masks.items()}

    assert "front" in check_cutouts(cutouts).corrected
    trusted = check_cutouts(cutouts, trusted=frozenset({"front", "left", "right"}))
    assert trusted.corrected == frozenset()


def test_between_two_plain_photos_only_a_part_in_foreign_colours_is_removed():
    """Both masks of a plain-backdrop pair are clean: a lump one shows and the other lacks, in the object's
    own colours, is its shape seen from another height; in colours the object has nowhere (a green cup
    beside a red toy), it is another object the model kept."""
    body = object_mask()
    lump = np.zeros_like(body)
    lump[20:70, 190:250] = True
    masks = {"front": body | lump, "back": body[:, ::-1], "left": body, "right": body[:, ::-1]}
    same_colour = {view: cutout(mask) for view, mask in masks.items()}
    foreign = dict(same_colour)
    front = np.zeros((*body.shape, 4), dtype=np.uint8)
    front[body | lump] = (200, 40, 35, 255)
    front[lump & ~body] = (40, 160, 60, 255)
    foreign["front"] = crop_and_pad(Image.fromarray(front, mode="RGBA"), alpha_bbox(front[..., 3]))

    assert check_cutouts(same_colour, trusted=frozenset(VIEWS)).corrected == frozenset()
    checked = check_cutouts(foreign, trusted=frozenset(VIEWS))
    assert checked.corrected == {"front"}

    def green(image: Image.Image) -> int:
        pixels = np.asarray(image)
        return int(((pixels[..., 3] > 127) & (pixels[..., 1] > 120)).sum())

    assert green(checked.cutouts["front"]) < 0.2 * green(foreign["front"])  # the cup is gone, up to its rim
    # an untrusted (busy-backdrop) pair is corrected whatever the colours
    assert "front" in check_cutouts(same_colour).corrected


def test_the_set_check_trusts_the_plain_views_but_not_a_stand_in(views):
    """check_set hands the plain views to the cross-view check; a view stood in for by its opposite's
    mirrored outline is no plain photo of its own."""
    before = results(*views[:2])
    before["left"] = NoSubjectFound("no object found in the left photo")
    seen: dict[str, frozenset[str]] = {}

    def check(cutouts, *, trusted, **framing):
        seen["trusted"] = trusted
        return check_cutouts(cutouts, trusted=trusted, **framing)

    checked = check_set(before, BackgroundRemovalSettings(), check=check, trusted=frozenset(VIEWS[:3]))

    assert checked.stand_ins == {"left": "right"}
    assert seen["trusted"] == {"front", "right"}


def unclear_mask(mask: np.ndarray) -> np.ndarray:
    """u2netp when the clutter looks as salient as the object: object and a block of backdrop beside it
    only half sure (alpha 200), in a wide haze. The subject check refuses it (no clear object)."""
    kept = mask.copy()
    kept[60:140, 200:260] = True
    haze = ndimage.gaussian_filter(kept.astype(np.float64), 10) * 255
    return np.maximum(haze * 0.7, kept * 200).clip(0, 240).astype(np.uint8)


def refused(photo_image: Image.Image, mask: np.ndarray, view: str) -> UnclearCutout:
    """What the remover raises for ``mask`` (``BackgroundRemover`` wraps the subject check's refusal)."""
    alpha = Image.fromarray(mask, mode="L")
    settings = BackgroundRemovalSettings()
    with pytest.raises(NoSubjectFound) as caught:
        cut_out_with_mask(photo_image, alpha, view=view, **settings.cutout_options())
    return UnclearCutout(caught.value, photo=photo_image, mask=alpha)


def test_a_busy_photo_whose_cut_out_was_refused_is_rebuilt_from_the_plain_views_colours(views):
    photos, masks, truth = views
    before = results({v: photos[v] for v in VIEWS[:3]}, masks)
    before["back"] = refused(photos["back"], unclear_mask(truth), "back")

    refined = refine_busy_views(before, BackgroundRemovalSettings())

    assert refined.rebuilt == {"back"} and refined.plain == {"front", "left", "right"}
    back = refined.results["back"]
    assert isinstance(back, CutoutResult)
    assert iou(np.asarray(back.mask) > 127, truth) > 0.95  # the object, without the block beside it
    checked = check_set(
        refined.results, BackgroundRemovalSettings(), trusted=refined.plain, rebuilt=refined.rebuilt
    )
    assert checked.stand_ins == {}
    assert [w.code for w in checked.warnings["back"]] == ["cutout_rebuilt"]
    assert "back photo" in checked.warnings["back"][0].message


def test_a_refused_photo_on_a_plain_backdrop_is_not_rebuilt_and_teaches_no_colours(views):
    """Nothing hid the object of a plain-backdrop photo the check refused: it is missing or cut off, and
    its mask is no evidence of the object's colours; the opposite's outline stands in as before."""
    photos, masks, truth = views
    before = results({v: photos[v] for v in ("left", "right", "back")}, masks)
    before["front"] = refused(photos["front"], unclear_mask(truth), "front")

    refined = refine_busy_views(before, BackgroundRemovalSettings())

    assert refined.rebuilt == frozenset() and refined.results["front"] is before["front"]
    assert refined.plain == {"left", "right"}  # the refused front is not learnt from
    checked = check_set(
        refined.results, BackgroundRemovalSettings(), trusted=refined.plain, rebuilt=refined.rebuilt
    )
    assert checked.stand_ins == {"front": "back"}


def test_a_rebuilt_cut_out_the_check_disagrees_with_is_stood_in_for_not_its_opposite(views):
    """When the check cannot reconcile a pair and names the plain photo, a rebuilt cut-out in that pair is
    still the one replaced: it is less sure than any cut-out the model made itself."""
    photos, masks, _ = views
    before = results(photos, masks)
    calls: list[frozenset[str]] = []

    def check(cutouts, *, trusted, **framing):
        calls.append(frozenset(cutouts))
        if len(calls) == 1:
            raise CutoutsDisagree(
                "the front photo's cut-out does not match",
                detail={"view": "front", "views": ["front", "back"]},
            )
        return check_cutouts(cutouts, trusted=trusted, **framing)

    checked = check_set(before, BackgroundRemovalSettings(), check=check, rebuilt=frozenset({"back"}))

    assert checked.stand_ins == {"back": "front"}
    assert [w.code for w in checked.warnings["back"]] == ["outline_from_opposite"]
    # without the rebuilt view the named photo is the one stood in for, as before
    calls.clear()
    assert check_set(before, BackgroundRemovalSettings(), check=check).stand_ins == {"front": "back"}


def test_a_rebuilt_cut_out_gets_back_what_its_opposite_shows_and_the_backdrop_hid(views):
    """The refinement only decides near the model's mask: a part the model missed far from it (a chair's
    legs before a shelf of the same wood) is added from the opposite photo's mirrored outline, with the
    busy photo's own colours."""
    photos, masks, truth = views
    before = results({v: photos[v] for v in VIEWS[:3]}, masks)
    cut_short = truth.copy()
    cut_short[150:, :] = False  # the bottom third of the object, missed
    before["back"] = refused(photos["back"], unclear_mask(cut_short), "back")

    refined = refine_busy_views(before, BackgroundRemovalSettings())

    assert refined.rebuilt == {"back"}
    back = np.asarray(refined.results["back"].mask) > 127
    bottom = np.s_[170:205, :]
    assert back[bottom][truth[bottom]].mean() > 0.8  # the missed bottom is there again
    assert iou(back, truth) > 0.93 > iou(np.asarray(before["back"].mask) > 127, truth) + 0.1
    colours = np.asarray(refined.results["back"].cutout.image)
    assert (
        colours[..., 3].max() == 255 and colours[colours[..., 3] > 127][:, 2].mean() > 60
    )  # its own photo's
